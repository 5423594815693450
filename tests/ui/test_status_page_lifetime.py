"""The status page lives exactly as long as its Context, and only when enabled."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

import ember


def test_the_page_stops_with_the_context_and_spark_ui_enabled_false_serves_none():
    context = ember.Context("local[1]", conf=ember.Conf().set("spark.ui.enabled", "false"))
    try:
        assert context.uiWebUrl is None
    finally:
        context.stop()
    context = ember.Context("local[1]")
    url = context.uiWebUrl
    with urllib.request.urlopen(url + "/", timeout=10) as reply:
        assert reply.status == 200
    context.stop()
    assert context.uiWebUrl is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/", timeout=5)
