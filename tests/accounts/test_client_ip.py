"""The per-IP login limit keys on an address a client cannot choose."""

from __future__ import annotations

from django.test import RequestFactory, override_settings

from accounts.throttle import client_ip

factory = RequestFactory()


def request(forwarded: str | None = None, remote: str = "10.0.0.9"):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return factory.post("/accounts/login/", **meta)


def test_without_a_proxy_a_forged_header_is_ignored():
    assert client_ip(request("1.2.3.4")) == "10.0.0.9"


@override_settings(ACCORD_PROXY_COUNT=1)
def test_behind_one_proxy_the_hop_it_appended_is_used():
    # The client may send its own X-Forwarded-For; our proxy appends the real
    # address last, and only that entry is believed.
    assert client_ip(request("6.6.6.6, 203.0.113.7")) == "203.0.113.7"


@override_settings(ACCORD_PROXY_COUNT=2)
def test_behind_two_proxies():
    assert client_ip(request("6.6.6.6, 203.0.113.7, 10.0.0.2")) == "203.0.113.7"


@override_settings(ACCORD_PROXY_COUNT=1)
def test_a_missing_header_falls_back_to_the_peer():
    assert client_ip(request()) == "10.0.0.9"
