"""syncstorage: a Firefox Sync 1.0/1.1 ("Weave") storage and user server."""
from setuptools import find_packages, setup

setup(
    name="syncstorage",
    version="0.1.0",
    description="Firefox Sync 1.0/1.1 storage server and User API",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    license="MPL-2.0",
    packages=find_packages(include=["syncstorage", "syncstorage.*"])
    + ["syncstorage.migrations", "syncstorage.migrations.storage", "syncstorage.migrations.users"],
    # The Alembic tree lives at the top level (migrations/) but ships inside the
    # package so that `syncstorage migrate` finds it however it was installed.
    package_dir={"syncstorage.migrations": "migrations"},
    package_data={"syncstorage.migrations": ["script.py.mako"]},
    install_requires=[
        "WebOb>=1.8,<2",
        "Routes>=2.5,<3",
        "SQLAlchemy>=2.0,<2.2",
        "PyMySQL>=1.2,<1.3",  # infra/mysqlconn.py relies on its internals: widen once tested
        "alembic>=1.13,<2",
        "gunicorn>=22,<28",
        "PasteDeploy>=3,<4",
        "pylibmc>=1.6,<2",
        "prometheus-client>=0.20,<1",
        "bcrypt>=4.1,<6",
        "orjson>=3.9,<4",  # quotes record payloads in GET responses: a sixth of a 100-record GET's CPU  # verifies the bcrypt hashes of accounts imported from FSyncMS
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "WebTest>=3,<4",
            "aiosmtpd>=1.4,<2",
            "hypothesis>=6.100,<7",
            "import-linter>=2,<3",  # the layer rules of setup.cfg, checked in CI (make lint)
            "selenium>=4.20,<5",  # the reset page in Debian's chromium (chromium-driver; no driver download)
        ],
        # the C MariaDB driver (mysql+mysqldb:// URLs; infra/mysqlclient.py): reads rows in C, a GET of
        # 100 records two fifths fewer instructions than PyMySQL.  Builds against MariaDB's client
        # library (Debian: libmariadb-dev, pkg-config).
        "mysqlclient": ["mysqlclient>=2.2,<2.4"],
        "loadtest": [
            "locust>=2.30,<3",
            "matplotlib>=3.8,<4",
            "tqdm>=4.66,<5",
        ],
    },
    entry_points={
        "console_scripts": ["syncstorage = syncstorage.ops.cli:main"],
        "paste.app_factory": ["main = syncstorage.web.app:paste_app_factory"],
    },
)
