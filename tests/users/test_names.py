import pytest

from syncstorage.users.names import username_from_account, valid_email, valid_username


@pytest.mark.parametrize("account,name", [
    ("foobar@baz.com", "xee7ffonluzpdp66l6xgpyh2v2w6ojkc"), ("FooBar@Baz.com", "xee7ffonluzpdp66l6xgpyh2v2w6ojkc"),
    ("john@example.com", "kismw365lo7emoxr3ohojgpild6lph4b"), ("John@Example.COM", "kismw365lo7emoxr3ohojgpild6lph4b"),
    ("test@mozilla.com", "rsytxdnwkte6alwne5tmb4yoomohhlke"), ("tarek@mozilla.com", "4bkawybiacr7h7sslleintbmrimswa5z"),
    ("user@example.org", "kr7ed77camn43q277rtip4injggemjwg"), ("a@b.c", "4llkidelju7guj3zximaf3zj2e4ubicr"),
    ("john+doe", "jro3lhvvtayqpkyyysjt3uk3fuev7ljz"), ("JohnDoe", "johndoe"), ("john.doe", "john.doe"),
    ("xee7ffonluzpdp66l6xgpyh2v2w6ojkc", "xee7ffonluzpdp66l6xgpyh2v2w6ojkc"),
])
def test_spec_vectors(account, name):
    assert username_from_account(account) == name


def test_validity():
    assert valid_username("a.b_c-9") and not valid_username("a@b") and not valid_username("x" * 33)
    assert valid_email("a@b.co") and not valid_email("ab.co") and not valid_email("a@b") and not valid_email("a b@c.d")
