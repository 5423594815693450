"""Helpers of the SQL tests: the databases of each kind, tables, queries."""

from __future__ import annotations

import functools
import sqlite3

from ember.etl import sql


def _sqlite_connect(path):
    return sqlite3.connect(path, timeout=60)


def _pg_connect(dsn):
    import psycopg

    return psycopg.connect(dsn)


def _table(connect, rows):
    connection = connect()
    cursor = connection.cursor()
    cursor.execute("CREATE TABLE items (id INTEGER, name VARCHAR(20), price REAL)")
    cursor.executemany(f"INSERT INTO items VALUES ({sql.placeholder(connection)}, "
                       f"{sql.placeholder(connection)}, {sql.placeholder(connection)})", rows)
    connection.commit()
    connection.close()


def _select(connect, query):
    connection = connect()
    try:
        cursor = connection.cursor()
        cursor.execute(query)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        connection.close()


def _key(row):
    return (row["id"] is None, row["id"] or 0, row["name"])
