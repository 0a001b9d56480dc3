"""The password-reset page: usable on a phone, self-contained, escaping what it echoes."""
import re


def test_the_reset_page_fits_a_phone_and_loads_nothing_from_elsewhere(testapp):
    page = testapp.get("/weave-password-reset?username=someone&key=AAAA-BBBB-CCCC-DDDD").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert not re.search(r"(src|href)=|@import|url\(", page)  # no external script, style, font or image
    assert 'value="someone"' in page and 'value="AAAA-BBBB-CCCC-DDDD"' in page


def test_what_the_page_echoes_is_escaped(testapp):
    page = testapp.get('/weave-password-reset?username="><script>alert(1)</script>').text
    assert "<script>" not in page and "&lt;script&gt;" in page
