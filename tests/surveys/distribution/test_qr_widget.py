"""QR codes (SVG/PNG that open the right link) and the website widget (script + snippet)."""

from __future__ import annotations

import re

import segno

from rapport.surveys import qr, tokens, widget


def test_qr_svg_encodes_the_units_public_link(settings, nps, org, client, users):
    settings.SITE_URL = "http://testserver"
    client.force_login(users["cx"])
    page = client.get(f"/surveys/{nps.pk}/qr/?unit={org['taipei'].pk}")
    assert page.status_code == 200
    url = qr.public_url(nps.pk, org["taipei"].pk)
    assert url in page.content.decode()

    image = client.get(f"/surveys/{nps.pk}/qr.svg?unit={org['taipei'].pk}&download=1")
    assert image["Content-Type"] == "image/svg+xml"
    assert "attachment" in image["Content-Disposition"]
    svg = image.content.decode()
    assert f"<desc>{url}</desc>" in svg
    # The drawn modules are those of that URL's code (and not of another unit's).
    assert qr.matrix(url) == [list(r) for r in segno.make(url, error="m", micro=False).matrix]
    other = qr.public_url(nps.pk, org["kaohsiung"].pk)
    assert qr.svg(url) != qr.svg(other)

    payload = tokens.read_public_token(url.rsplit("/q/", 1)[1].strip("/"))
    assert payload == {"s": nps.pk, "c": "qr", "u": org["taipei"].pk}
    opened = client.get(url.removeprefix("http://testserver"))
    assert opened.status_code == 200  # the anonymous survey page

    png = client.get(f"/surveys/{nps.pk}/qr.png")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")


def test_qr_pages_need_a_login(nps, client):
    assert client.get(f"/surveys/{nps.pk}/qr.svg").status_code == 302


def test_widget_script_is_served_as_javascript(client):
    response = client.get("/s/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert b"data-rapport-survey" in response.content


def test_widget_page_shows_a_working_snippet(settings, nps, client, users):
    settings.SITE_URL = "http://testserver"
    client.force_login(users["analyst"])
    page = client.get(f"/surveys/{nps.pk}/widget/")
    assert page.status_code == 200
    snippet = widget.snippet(nps.pk)
    src, survey_url = re.findall(r'src="([^"]+)" data-rapport-survey="([^"]+)"', snippet)[0]
    assert src == "http://testserver/s/widget.js"
    assert client.get(survey_url.removeprefix("http://testserver")).status_code == 200
    assert "data-rapport-survey" in page.content.decode()
