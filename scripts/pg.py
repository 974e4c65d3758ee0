"""Scratch PostgreSQL databases for the test drivers and the benchmarks (psql only, no
Python packages, so that the benchmarks can use it from the system's python3)."""

import secrets
import subprocess


def create_database(admin_url, prefix):
    """A database with a fresh name on the server of `admin_url`; returns its name."""
    name = prefix + secrets.token_hex(6)
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    return name


def drop_database(admin_url, name):
    """Drops database `name` and its organizations' own databases (`<name>_t<org id>`)."""
    listed = subprocess.run(["psql", admin_url, "-qAtc", f"SELECT datname FROM pg_database WHERE datname LIKE '{name}\\_t%'"],
                            capture_output=True, text=True, check=False)
    for tenant in listed.stdout.split():
        subprocess.run(["psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{tenant}" WITH (FORCE)'], check=False)
    subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


def database_url(admin_url, name):
    """The URL of database `name` on the server of `admin_url`."""
    return admin_url.rsplit("/", 1)[0] + "/" + name
