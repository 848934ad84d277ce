"""Runs the JavaScript tests (node's built-in runner) as part of the Python test command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from livepush.protocol import (
    PING_FRAME,
    PONG_FRAME,
    SUBPROTOCOL,
    TOKEN_SUBPROTOCOL_PREFIX,
    CloseCode,
    ProtocolType,
)

from .servers import ROOT

STATIC = ROOT / "src" / "livepush" / "static" / "livepush"

# Drives livepush.js with a socket that records what the client offers and sends.
PROBE = """
const [modulePath, pingFrame] = process.argv.slice(-2);
const { CloseCode, LivePush } = await import(modulePath);
class RecordingSocket {
  static last = null;
  constructor(url, protocols) {
    Object.assign(this, { protocols, sent: [], readyState: 0 });
    RecordingSocket.last = this;
  }
  send(text) { this.sent.push(text); }
  close() { this.readyState = 3; }
}
const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: RecordingSocket, token: "T" });
const ws = RecordingSocket.last;
ws.readyState = 1;
ws.onopen({});
ws.onmessage({ data: pingFrame });
client.close();
console.log(JSON.stringify({ closeCodes: { ...CloseCode }, protocols: ws.protocols, sent: ws.sent }));
"""


def require_node() -> str:
    node = shutil.which("node")
    reason = None
    if node is None:
        reason = "node is not installed"
    elif not (ROOT / "node_modules").is_dir():
        reason = "node_modules is missing (npm ci)"
    if reason is not None:
        if os.environ.get("LIVEPUSH_REQUIRE_NODE") == "1":
            pytest.fail(f"LIVEPUSH_REQUIRE_NODE=1 but {reason}")
        pytest.skip(reason)
    assert node is not None
    return node


def test_livepush_js_and_react_bindings_pass_their_node_tests():
    node = require_node()
    result = subprocess.run(
        [node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    summary = "\n".join(line for line in result.stdout.splitlines() if line.startswith("# "))
    print(summary)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert "# fail 0" in result.stdout
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.M)
    assert passed, "node printed no '# pass' line"
    assert int(passed.group(1)) > 0, "node ran no test"


def test_livepush_js_speaks_the_python_protocol():
    """livepush.js's close codes, PONG answer and subprotocols are livepush.protocol's."""
    node = require_node()
    result = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            PROBE,
            "--",
            (STATIC / "livepush.js").as_uri(),
            PING_FRAME,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["closeCodes"] == {code.name: code.value for code in CloseCode}
    assert seen["sent"] == [PONG_FRAME]
    assert seen["protocols"] == [SUBPROTOCOL, f"{TOKEN_SUBPROTOCOL_PREFIX}T"]


def test_the_client_sources_name_only_protocol_types():
    """Every message type written in livepush.js is a ProtocolType; the d.ts has the close codes."""
    source = (STATIC / "livepush.js").read_text(encoding="utf-8")
    names = set(re.findall(r'"([A-Z][A-Z_]+)"', source))
    assert names, "no message type found in livepush.js"
    assert names <= {t.value for t in ProtocolType}, names
    declared = (STATIC / "livepush.d.ts").read_text(encoding="utf-8")
    block = re.search(r"export declare const CloseCode: \{(.*?)\};", declared, re.S)
    assert block, "livepush.d.ts declares no CloseCode"
    codes = dict(re.findall(r"readonly (\w+): (\d+);", block.group(1)))
    assert codes == {code.name: str(code.value) for code in CloseCode}
