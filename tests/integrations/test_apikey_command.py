"""`rapport apikey create|list|revoke`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rapport.integrations.models import ApiKey, hash_key
from rapport.integrations.rules import DEFAULT_SCOPES


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("apikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_key_once_and_keeps_only_its_hash(db):
    out, err = run("create", "--name", "dms")
    raw = out.strip()
    assert raw.startswith("rk_")
    key = ApiKey.objects.get(name="dms")
    assert key.key_hash == hash_key(raw)
    assert raw not in str(key.__dict__)
    assert key.scopes == sorted(DEFAULT_SCOPES)
    assert "webhooks:manage" not in key.scopes
    assert "shown only now" in err
    listed, _ = run("list")
    assert "dms" in listed and raw not in listed


def test_scopes_duplicates_and_unknown_scopes(db):
    run("create", "--name", "hooks", "--scope", "webhooks:manage")
    assert ApiKey.objects.get(name="hooks").scopes == ["webhooks:manage"]
    with pytest.raises(CommandError, match="already exists"):
        run("create", "--name", "hooks")
    with pytest.raises(CommandError, match="Unknown scope.*customers:delete"):
        run("create", "--name", "other", "--scope", "customers:delete")
    assert not ApiKey.objects.filter(name="other").exists()


def test_revoke(db):
    run("create", "--name", "crm")
    out, _ = run("revoke", "crm")
    assert "Revoked crm" in out
    assert ApiKey.objects.get(name="crm").revoked_at is not None
    assert "revoked" in run("list")[0]
    with pytest.raises(CommandError, match="No API key named ghost"):
        run("revoke", "ghost")
