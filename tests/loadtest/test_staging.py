"""The staging cluster's server files: each server's ini file holds its database URLs (what a
failover edits before HUP), and the settings loaded from it are what the cluster needs."""
from loadtest.staging import edit_ini, layout, write_server_files
from syncstorage.infra.config import load_settings

DATABASES = {"users": "mysql+pymysql://sync:pw@127.0.0.1:18120/staging_users",
             "node1": "mysql+pymysql://app:pw@127.0.0.1:18122/staging_node1",
             "node2": "mysql+pymysql://sync:pw@127.0.0.1:18120/staging_node2"}


def settings_of(envs, server):
    env = envs[server]
    return load_settings(env["SYNCSTORAGE_CONFIG"], environ=env)


def test_each_server_reads_its_databases_from_its_own_ini_file(tmp_path):
    cluster = layout(18100)
    envs = write_server_files(cluster, DATABASES, tmp_path)
    assert not any("SQLURI" in name or "DATABASES" in name for env in envs.values() for name in env)
    users = settings_of(envs, "users")
    assert users.node.role == "users" and users.users.sqluri == DATABASES["users"]
    assert users.users.node_databases == {cluster["nodes"]["node1"]: DATABASES["node1"],
                                          cluster["nodes"]["node2"]: DATABASES["node2"]}
    for name in ("node1", "node2"):
        node = settings_of(envs, name)
        assert node.node.role == "storage" and node.node.check
        assert node.storage.sqluri == DATABASES[name] and node.node.url == cluster["nodes"][name]
        assert node.server.port == cluster["ports"][f"{name}_upstream"]


def test_a_failover_edit_changes_one_value_and_keeps_the_rest(tmp_path):
    envs = write_server_files(layout(18100), DATABASES, tmp_path)
    replica = "mysql+pymysql://app:pw@127.0.0.1:18123/staging_node1"
    edit_ini(tmp_path / "node1.ini", {("storage", "sqluri"): replica})
    node = settings_of(envs, "node1")
    assert node.storage.sqluri == replica
    assert node.users.sqluri == DATABASES["users"] and node.overload.max_concurrent == 8
