"""Staff pages for cases: the work (inbox, case page, board, approvals, settings) and the learning
(knowledge, digest, reports). Each half keeps its own module; one namespace."""

from rapport.cases import urls_learning, urls_work

app_name = "cases"

urlpatterns = [*urls_work.urlpatterns, *urls_learning.urlpatterns]
