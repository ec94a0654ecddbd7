"""Headless Chromium walks the closed loop against a live server: a detractor's survey answer
opens a case through the default rule; the agent proposes a remedy above their limit; the
manager approves it in the queue; the customer accepts through the link; the agent resolves;
the customer answers the recovery survey; the case shows the score before → after and closes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rapport.cases.actions import consent
from rapport.cases.models import Case, CaseSettings, Remedy
from rapport.customers.models import Customer
from rapport.surveys import actions as survey_actions
from rapport.surveys.models import ContactPolicy
from tests.browsing import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(os.environ.get("RAPPORT_SCREENSHOTS", "/tmp/rapport-screenshots"))


def answer_nps(page, url: str, score: int) -> None:
    page.goto(url)
    page.locator(f"fieldset[role=radiogroup] input[value='{score}'] + span").first.click()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/thanks/")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"cases-{name}.png"), full_page=True)


def test_detractor_to_recovered_case(browser, live_server, org, users):
    policy = ContactPolicy.current()
    policy.quarantine_days = 0  # the recovery survey follows the first one within days
    policy.save()
    survey = survey_actions.create_survey_from_template("nps", "Service NPS", publish=True)
    config = CaseSettings.current()
    config.recovery_survey = survey
    config.save()
    customer = Customer.objects.create(
        display_name="Lin Mei", email="lin@example.com", home_unit=org["taipei"]
    )
    _invitation, token = survey_actions.create_invitation(
        survey_actions.live_version(survey), channel="email", customer=customer, language="en"
    )

    # 1. The customer answers 3 of 10: the default rule opens a case owned by Taipei's agent.
    customer_page = browser.new_page(viewport={"width": 375, "height": 812})
    answer_nps(customer_page, f"{live_server.url}/s/{token}/", 3)
    case = Case.objects.get(customer=customer)
    assert case.source == "survey" and case.owner == users["taipei_agent"].staff

    # 2. The agent finds it in the inbox (on a phone), acknowledges it, proposes 5,000 TWD.
    agent = signed_in(browser, live_server, users["taipei_agent"], phone=True)
    agent.goto(f"{live_server.url}/cases/")
    assert agent.evaluate("document.documentElement.scrollWidth") <= 376
    shot(agent, "inbox-phone")
    agent.get_by_role("link", name=case.ref).click()
    assert "NPS 3" in agent.locator("#recovery-score").inner_text()
    assert agent.evaluate("document.documentElement.scrollWidth") <= 376  # no sideways scroll
    shot(agent, "case-phone")
    agent.get_by_role("button", name="Acknowledge").click()
    agent.wait_for_selector("text=Acknowledged: the case is yours.")
    agent.locator("#propose summary").click()
    agent.select_option("#propose select[name=kind]", "refund")
    agent.fill("#propose input[name=value]", "5000")
    agent.fill("#propose input[name=currency]", "TWD")
    agent.fill("#propose input[name=description]", "Refund of the repeat labour")
    agent.locator("#propose button[type=submit]").click()
    agent.wait_for_selector("text=Above your authority")
    assert Case.objects.get(pk=case.pk).state == "awaiting_approval"

    # 3. The region manager approves it in the approval queue.
    manager = signed_in(browser, live_server, users["north_mgr"])
    manager.goto(f"{live_server.url}/cases/approvals/")
    assert case.ref in manager.content()
    shot(manager, "approvals")
    manager.fill("textarea[name$=reason], input[name$=reason]", "Fair: second visit")
    manager.get_by_role("button", name="Approve").click()
    manager.wait_for_selector("text=the owner can offer it now")
    remedy = Remedy.objects.get(case=case)
    assert remedy.status == "approved" and remedy.approved_by == users["north_mgr"].staff
    manager.goto(f"{live_server.url}/cases/board/")
    assert "Tpagent" in manager.locator("main").inner_text()
    shot(manager, "board")

    # 4. The agent offers it; the customer accepts through the link in the offer.
    agent.reload()
    agent.get_by_role("button", name="Offer to the customer").click()
    agent.wait_for_selector("text=Offered")
    customer_page.goto(f"{live_server.url}/cases/accept/{consent.accept_token(remedy)}")
    customer_page.locator("button[value=accept]").click()
    assert Remedy.objects.get(pk=remedy.pk).status == "accepted"

    # 5. The agent grants and resolves it, and sends the recovery survey.
    agent.reload()
    agent.get_by_role("button", name="Grant").click()
    agent.wait_for_selector("text=Remedy granted.")
    agent.locator("#resolve summary").click()
    agent.select_option("#resolve select[name=cause]", "core_failure")
    agent.fill("#resolve input[name=sub_cause]", "repeat repair")
    agent.fill("#resolve textarea[name=fix]", "Redid the repair and refunded the labour")
    agent.locator("#resolve button[type=submit]").click()
    agent.wait_for_selector("text=Resolved.")
    agent.get_by_role("button", name="Send the recovery survey now").click()
    agent.wait_for_selector("text=The recovery survey is on its way")
    case.refresh_from_db()
    assert case.state == "resolved" and case.recovery_invitation is not None

    # 6. The customer answers the recovery survey through the public survey page: 9 of 10.
    recovery_token = survey_actions.issue_token(case.recovery_invitation)
    answer_nps(customer_page, f"{live_server.url}/s/{recovery_token}/", 9)
    case.refresh_from_db()
    assert case.recovery_response is not None and case.recovery_response.nps_score == 9

    # 7. The case shows the score before → after and closes on that basis.
    agent.reload()
    score = agent.locator("#recovery-score").inner_text()
    assert "NPS 3" in score and "NPS 9" in score
    agent.locator("#close summary").click()
    agent.locator("#close input[value=recovery_survey]").check()
    agent.locator("#close button[type=submit]").click()
    agent.wait_for_selector("text=Case closed.")
    shot(agent, "closed-phone")
    case.refresh_from_db()
    assert case.state == "closed" and case.close_basis == "recovery_survey"
    trail = agent.locator("#trail").inner_text()
    assert "Fair: second visit" in trail and "Closed" in trail
