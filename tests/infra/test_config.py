from pathlib import Path

import pytest

from syncstorage.infra.config import SETTINGS, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults():
    settings = load_settings(environ={})
    assert settings.storage.batch_max_count == 100 and settings.storage.quota_kb == 0
    assert settings.users.sqluri == settings.storage.sqluri  # users default to the storage database
    assert settings.users.strict_usernames is True


def test_every_setting_has_a_doc_and_a_default_of_its_type():
    for s in SETTINGS:
        assert s.doc
        assert s.default is None or s.coerce(s.default) == s.default


def test_ini_then_environment_then_overrides(tmp_path):
    ini = tmp_path / "s.ini"
    ini.write_text("[app:main]\nuse = egg:syncstorage\n[storage]\nsqluri = sqlite:///%(here)s/x.db\nquota_kb = 10\n"
                   "[users]\nstrict_usernames = false\n")
    settings = load_settings(str(ini), environ={"SYNCSTORAGE_STORAGE_QUOTA_KB": "20", "SYNCSTORAGE_NODE_URL": "u"})
    assert settings.storage.sqluri == f"sqlite:///{tmp_path}/x.db"
    assert settings.storage.quota_kb == 20 and settings.node.url == "u"
    assert settings.users.strict_usernames is False
    assert load_settings(str(ini), overrides={"storage.quota_kb": "30"}, environ={}).storage.quota_kb == 30


def test_unknown_keys_and_bad_values_are_errors(tmp_path):
    ini = tmp_path / "s.ini"
    ini.write_text("[storage]\nquota = 10\n")
    with pytest.raises(ValueError, match="unknown setting"):
        load_settings(str(ini), environ={})
    with pytest.raises(ValueError, match="quota_kb"):
        load_settings(environ={"SYNCSTORAGE_STORAGE_QUOTA_KB": "lots"})
    with pytest.raises(ValueError):
        load_settings(overrides={"users.captcha": "maybe"}, environ={})


def test_shipped_ini_files_load():
    for path in (ROOT / "config" / "development.ini", ROOT / "production.ini"):
        settings = load_settings(str(path), environ={})
        assert settings.storage.sqluri


def test_settings_are_read_only():
    settings = load_settings(environ={})
    for assign in (lambda: setattr(settings, "storage", None), lambda: setattr(settings.storage, "quota_kb", 5)):
        with pytest.raises(AttributeError):
            assign()
    assert settings.users.sqluri == settings.storage.sqluri  # the default: one database


def test_misspelt_variables_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="did you mean SYNCSTORAGE_STORAGE_SQLURI"):
        load_settings(environ={"SYNCSTORAGE_STORAGE_SQLURL": "sqlite://"})
    load_settings(environ={"SYNCSTORAGE_CONFIG": "x.ini", "SYNCSTORAGE_COMMIT": "abc"})  # not settings, known


@pytest.mark.parametrize("name,value", [("storage.batch_max_count", -1), ("storage.quota_kb", -1),
                                        ("server.threads", 0), ("server.port", 70000), ("abuse.window", 0),
                                        ("storage.pool_timeout", 0)])
def test_out_of_range_values_are_refused_naming_the_setting(name, value):
    section, key = name.split(".")
    with pytest.raises(ValueError, match=rf"\[{section}\] {key}"):
        load_settings(overrides={name: value}, environ={})


def test_a_captcha_without_keys_is_refused():
    with pytest.raises(ValueError, match=r"\[users\] captcha"):
        load_settings(overrides={"users.captcha": True}, environ={})


def test_production_ini_is_usable_as_shipped():
    settings = load_settings(str(ROOT / "production.ini"), environ={})
    assert not settings.users.captcha and settings.server.trusted_proxies and settings.users.public_url


def test_make_serve_protects_itself_like_production():
    """Admission control on, with spare threads to refuse the excess quickly (docs/benchmarks.md §5)."""
    dev = load_settings(str(ROOT / "config" / "development.ini"), environ={})
    prod = load_settings(str(ROOT / "production.ini"), environ={})
    assert dev.overload.max_concurrent == prod.overload.max_concurrent > 0
    assert dev.server.threads > dev.overload.max_concurrent
