"""docs/webhooks.md runs: its Python and Node verification snippets verify real signed deliveries
(and refuse forged ones), and its notifier plugin example works through the real dispatcher; the
core's `jsonl` notifier writes one line per event when `notifiers.jsonl_path` is set.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

from ctrip_core.services.webhooks.notifier import WebhookNotifier
from ctrip_core.plugins import collect_notifiers
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks import endpoints as webhook_endpoints
from ctrip_core.services.webhooks.deliveries import nominal_schedule
from ctrip_core.services.outbox.dispatch import dispatch_events
from webhooks_support import (add_endpoint, db_url, drain, emit, hooks, http, merchant_id, new_payment,  # noqa: F401
                              quiet_endpoints_after, rt, runtimes)

DOC = Path(__file__).parents[2] / "docs" / "webhooks.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def block_with(language: str, marker: str) -> str:
    [code] = [b for b in blocks(language) if marker in b]
    return code


async def test_the_python_snippet_verifies_a_real_delivery(rt, http, hooks, merchant_id):
    namespace: dict = {}
    exec(compile(block_with("python", "standardwebhooks"), "docs/webhooks.md", "exec"), namespace)  # noqa: S102
    handled: list[dict] = []
    namespace["on_event"] = handled.append

    receiver = hooks()
    _, secret = await add_endpoint(rt, merchant_id, receiver.url)
    _, other_secret = await add_endpoint(rt, merchant_id, hooks().url)
    [event_id] = await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")
    await drain(rt, http)
    [(headers, body)] = receiver.requests

    handle = namespace["handle_webhook"]
    assert handle(body, headers, secret) == 200
    assert handle(body, headers, secret) == 200  # the same event again: acknowledged, not handled twice
    assert [e["id"] for e in handled] == [event_id]
    assert handle(body.replace(b'"payment.confirmed"', b'"payment.canceled"'), headers, secret) == 400
    assert handle(body, headers, other_secret) == 400
    assert handle(body, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)}, secret) == 400


async def test_the_node_snippet_verifies_real_deliveries(rt, http, hooks, merchant_id, tmp_path):
    node = shutil.which("node")
    assert node, "node is needed (it installs Anvil too): put it on PATH"
    receiver = hooks()
    endpoint_id, old = await add_endpoint(rt, merchant_id, receiver.url)
    payment = await new_payment(rt, merchant_id)
    await emit(rt, payment, "payment.detected")
    await drain(rt, http)
    async with rt.sessions() as s, s.begin():
        _, new = await webhook_endpoints.rotate_secret(s, SecretBox.from_settings(rt.settings), merchant_id,
                                                       endpoint_id)
    await emit(rt, payment, "payment.confirmed")
    await drain(rt, http)
    (h1, b1), (h2, b2) = receiver.requests

    def case(secret, body, headers):
        return {"secret": secret, "body": base64.b64encode(body).decode(), "headers": headers}

    cases = [case(old, b1, h1), case(old, b2, h2), case(new, b2, h2),  # rotation: both secrets verify
             case(new, b1, h1), case(old, b1 + b" ", h1),
             case(old, b1, {**h1, "webhook-timestamp": str(int(h1["webhook-timestamp"]) + 900)})]
    (tmp_path / "verify.js").write_text(block_with("javascript", "verifyCtripWebhook"))
    (tmp_path / "run.js").write_text("""
const { verifyCtripWebhook } = require("./verify.js");
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map((c) => {
  try { return verifyCtripWebhook(c.secret, Buffer.from(c.body, "base64"), c.headers).type; }
  catch (e) { return "error: " + e.message; }
})));
""")
    run = subprocess.run([node, "run.js"], cwd=tmp_path, input=json.dumps(cases), capture_output=True, text=True,
                         timeout=20, check=True)
    assert json.loads(run.stdout) == ["payment.detected", "payment.confirmed", "payment.confirmed",
                                      "error: no matching signature", "error: no matching signature",
                                      "error: timestamp out of tolerance"]


def test_the_retry_table_matches_the_schedule():
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", DOC.read_text(), flags=re.M)
    assert [int(n) for n, _ in rows] == list(range(1, 21))
    ceilings = [cell.strip() for _, cell in rows[1:]]
    for ceiling, text in zip(nominal_schedule(20), ceilings, strict=True):
        if ceiling == 4 * 3600:
            assert text.startswith("4 h"), text
        else:
            assert text == f"{int(ceiling):,} s", (ceiling, text)


async def test_the_notifier_plugin_example_runs_under_the_dispatcher(rt, merchant_id, tmp_path, monkeypatch):
    namespace: dict = {"__name__": "ctrip_audit"}
    exec(compile(block_with("python", "class AuditNotifier"), "docs/webhooks.md", "exec"), namespace)  # noqa: S102
    registered: list = []
    namespace["ctrip_register_notifiers"](registered.append, rt.settings)
    assert registered == []  # silent unless configured
    monkeypatch.setenv("CTRIP_AUDIT_PATH", str(tmp_path / "audit.jsonl"))
    namespace["ctrip_register_notifiers"](registered.append, rt.settings)
    [audit] = registered

    payment = await new_payment(rt, merchant_id)
    ids = await emit(rt, payment, "payment.detected", "payment.confirmed")
    await dispatch_events(rt, [WebhookNotifier(), audit])
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(line["id"], line["type"], line["payment_id"]) for line in lines if line["payment_id"] == payment.id] == \
        [(ids[0], "payment.detected", payment.id), (ids[1], "payment.confirmed", payment.id)]


async def test_the_jsonl_notifier_writes_one_line_per_event(runtimes, merchant_id, tmp_path):
    path = tmp_path / "out" / "events.jsonl"
    plain = runtimes()
    assert [n.name for n in collect_notifiers(plain.pm, plain.settings)] == ["webhook"]  # off by default
    rt = runtimes(notifiers={"jsonl_path": str(path)})
    notifiers = collect_notifiers(rt.pm, rt.settings)
    assert sorted(n.name for n in notifiers) == ["jsonl", "webhook"]

    payment = await new_payment(rt, merchant_id)
    types = ("payment.detected", "payment.confirmed", "payment.swept")
    ids = await emit(rt, payment, *types)
    await dispatch_events(rt, notifiers)
    await dispatch_events(rt, notifiers)  # dispatched events are not handed out again

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    mine = [line for line in lines if line["merchant_id"] == merchant_id]
    assert [(line["id"], line["type"]) for line in mine] == list(zip(ids, types, strict=True))
    assert all(line["data"]["id"] == payment.id and line["created_at"].endswith("Z") for line in mine)
