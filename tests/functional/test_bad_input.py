"""Whatever a client sends, the answer is a documented status, never a 500, and stored data survives."""
import json
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings, strategies as st

from .helpers import intact, seed

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "payload", "sortindex", "ttl", "parentid", "predecessorid", "modified", "x"]),
        children, max_size=6),
    max_leaves=12)
bodies = st.one_of(json_values.map(json.dumps), st.binary(max_size=60))
query_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
params = st.dictionaries(st.sampled_from(["ids", "newer", "older", "index_above", "index_below", "limit", "offset",
                                          "sort", "full", "parentid", "predecessorid", "junk"]),
                         query_values, max_size=4)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def test_fuzzed_writes(testapp, root):
    seed(testapp, root)

    @FUZZ
    @given(body=bodies, target=st.sampled_from(["/storage/c/keep", "/storage/c", "/storage/other/x"]),
           method=st.sampled_from(["PUT", "POST"]))
    def check(body, target, method):
        body = body.encode() if isinstance(body, str) else body
        res = testapp.request(root + target, method=method, body=body, expect_errors=True)
        assert res.status_int in (200, 400, 405), res.status
        if res.status_int == 400:
            assert res.body in (b"6", b"8")
        if target == "/storage/c/keep" and res.status_int == 200:
            testapp.put(f"{root}/storage/c/keep", '{"payload": "precious", "sortindex": 1}')

    check()
    intact(testapp, root)


def test_fuzzed_queries_and_headers(testapp, root):
    seed(testapp, root)

    @FUZZ
    @given(query=params, method=st.sampled_from(["GET", "DELETE"]),
           accept=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
           since=st.one_of(st.none(), st.text(alphabet="0123456789.e-x ", max_size=12)))
    def check(query, method, accept, since):
        headers = {"Accept": accept}
        if since is not None:
            headers["X-If-Unmodified-Since"] = since
        res = testapp.request(f"{root}/storage/other?{urlencode(query)}", method=method, headers=headers,
                              expect_errors=True)
        assert res.status_int in (200, 400, 412), res.status

    check()
    intact(testapp, root)


def test_path_that_is_not_utf8_is_404(testapp, user):
    for path in ("/1.1/u/storage/c/%ff%fe", "/%ff", "/1.1/%c3%28/info/collections"):
        res = testapp.get(path, expect_errors=True)
        assert res.status_int == 404, (path, res.status)
