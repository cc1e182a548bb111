"""The finance department admits a member platform's organisation from its page (registry v2, real Anvil,
both databases): upload the signed request, see it pending, approve it, and the chain registers the key."""

from __future__ import annotations

import io
import json
import time

import pytest
from appkit import credit_code, wait_until
from eth_account import Account
from flask import Flask
from flask.testing import FlaskClient

from app.bills.admission import sign_admission
from app.chain import Deployment
from app.extensions import db
from app.models import AdmissionRecord


@pytest.fixture
def deployment(deployment_v2: Deployment) -> Deployment:
    return deployment_v2


def _finance(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    answer = client.post("/login", data={"username": "finance", "password": "finance-pass"})
    assert answer.status_code == 302
    return client


def _request_file(deployment: Deployment, name: str) -> tuple[Account, bytes]:
    key = Account.create()
    request = sign_admission(
        key,
        chain_id=deployment.chain_id,
        registry=deployment.address,
        name=name,
        credit_code=credit_code(),
        kind="claimant",
        deadline=int(time.time()) + 3600,
    )
    return key, request.to_json().encode()


def test_the_finance_page_receives_and_approves_an_admission_request(app, deployment, worker):
    finance = _finance(app)
    key, data = _request_file(deployment, "会员平台保险")
    sent = finance.post(
        "/admin/admissions", data={"request": (io.BytesIO(data), "request.json")}, content_type="multipart/form-data"
    )
    assert sent.status_code == 302
    page = finance.get("/admin/orgs").get_data(as_text=True)
    assert "会员平台保险" in page and key.address in page
    with app.app_context():
        record_id = db.session.query(AdmissionRecord).filter_by(account=key.address).one().id

    approved = finance.post(f"/admin/admissions/{record_id}/approve")
    assert approved.status_code == 302
    client = app.extensions["billchain"].client
    wait_until(app, lambda: client.key_record(key.address).org_id != 0)  # registered on chain
    assert client.organisation_v2(client.key_record(key.address).org_id).name == "会员平台保险"
    assert "No pending admission requests." in finance.get("/admin/orgs").get_data(as_text=True)
    finance.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh"
    chinese = finance.get("/admin/orgs").get_data(as_text=True)
    assert "成员平台的入网申请" in chinese and "自有密钥签名的申请" in chinese and "暂无待处理的入网申请" in chinese


def test_a_bad_request_file_is_refused_with_its_field_and_nothing_is_kept(app, deployment):
    finance = _finance(app)
    _, data = _request_file(deployment, "篡改的请求")
    tampered = json.loads(data)
    tampered["name"] = "另一个名字"  # the signature no longer covers it
    sent = finance.post(
        "/admin/admissions",
        data={"request": (io.BytesIO(json.dumps(tampered).encode()), "request.json")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "signature: is not the account" in sent.get_data(as_text=True)
    not_json = finance.post(
        "/admin/admissions",
        data={"request": (io.BytesIO(b"\x89PNG not json"), "request.json")},
        content_type="multipart/form-data",
    )
    assert not_json.status_code == 400 and "not JSON" in not_json.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(AdmissionRecord).count() == 0
