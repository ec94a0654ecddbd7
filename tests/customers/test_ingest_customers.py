"""Customer records: created, updated, duplicate, rejected with the field named."""

import pytest

from rapport.customers.ingest import ingest_customers
from rapport.customers.models import AttributeDefinition, Consent, Customer, SourceSystem


@pytest.fixture
def attrs(org):
    AttributeDefinition.objects.create(name="model_year", type="integer")
    AttributeDefinition.objects.create(name="since", type="date")


def test_create_update_duplicate(attrs):
    record = {"external_id": "c1", "name": " Lin ", "email": "Lin@Example.COM",
              "phone": "0912-345-678", "language": "zh_TW", "unit": "taipei",
              "attr.model_year": "2019",
              "consent.email.marketing": "是", "consent.sms.survey": "n"}  # fmt: skip
    report = ingest_customers([record], source="crm")
    assert (report.created, report.committed, report.source_created) == (1, True, True)
    c = Customer.objects.get()
    assert (c.display_name, c.email, c.phone, c.preferred_language, c.home_unit.code) == (
        "Lin", "lin@example.com", "+886912345678", "zh-hant", "taipei"
    )  # fmt: skip
    assert c.attributes == {"model_year": 2019}
    assert c.may_contact("email", "marketing") and not c.may_contact("sms", "survey")

    again = ingest_customers([record], source="crm")
    assert (again.created, again.duplicates, again.source_created) == (0, 1, False)
    # JSON with typed values means the same as the CSV strings
    typed = {
        "external_id": "c1",
        "attributes": {"model_year": 2019},
        "consent": {"email.marketing": True},
    }
    assert ingest_customers([typed], source="crm").duplicates == 1
    changed = ingest_customers(
        [{"external_id": "c1", "language": "en", "consent.email.marketing": "no"}], source="crm"
    )
    assert changed.updated == 1
    c.refresh_from_db()
    assert (
        c.preferred_language == "en" and c.display_name == "Lin"
    )  # absent fields keep their value
    assert not Consent.objects.get(channel="email").granted


@pytest.mark.parametrize(
    "record, field",
    [
        ({"name": "no id"}, "external_id"),
        ({"external_id": "x", "email": "nope"}, "email"),
        ({"external_id": "x", "phone": "123"}, "phone"),
        ({"external_id": "x", "language": "fr"}, "language"),
        ({"external_id": "x", "unit": "atlantis"}, "unit"),
        ({"external_id": "x", "attr.model_year": "old"}, "attr.model_year"),
        ({"external_id": "x", "attr.shoe_size": "42"}, "attr.shoe_size"),
        ({"external_id": "x", "attr.since": "01/02/2020"}, "attr.since"),
        ({"external_id": "x", "consent.email.marketing": "perhaps"}, "consent.email.marketing"),
        ({"external_id": "x", "consent.fax.marketing": "yes"}, "consent.fax.marketing"),
        ({"external_id": "x", "colour": "red"}, "colour"),
        ({"external_id": ["x"]}, "external_id"),
    ],
)
def test_rejections_name_the_field(attrs, record, field):
    report = ingest_customers([{"external_id": "ok"}, record], source="crm")
    assert report.rejected == 1 and not report.committed
    assert [p.field for p in report.problems] == [field]
    assert report.problems[0].line == 2
    assert not Customer.objects.exists()  # all or nothing


def test_skip_invalid_writes_the_good_ones(attrs):
    report = ingest_customers(
        [{"external_id": "a"}, {"external_id": "b", "email": "bad"}, {"external_id": "c"}],
        source="crm", mode="per_record",
    )  # fmt: skip
    assert (report.created, report.rejected) == (2, 1)
    assert [o.status for o in report.outcomes] == ["created", "rejected", "created"]
    assert report.outcomes[1].problems[0].field == "email"


def test_invalid_source_is_refused(db):
    with pytest.raises(ValueError):
        ingest_customers([{"external_id": "a"}], source="no spaces please")
    assert not SourceSystem.objects.exists()
