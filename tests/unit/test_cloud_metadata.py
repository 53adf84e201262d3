"""Cloud guests: software_facts asks the instance metadata service (run through real Ansible against a real HTTP
server on 127.0.0.1 answering recorded IMDS answers), and the engine reads instance type and dedicated host.

The answers are crafted from the clouds' documented formats (tests/fixtures/real/SOURCES.md). The guest is a
scratch root whose DMI names the cloud (the module's ``root`` option), so the gate is the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sam_engine.platforms.registry import platform_of
from sam_engine.topology import cloud

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLOUD = REPO / "tests" / "fixtures" / "real" / "cloud"
AZURE_TAG = "7783-7084-3265-9085-8269-3286-77"
TOKEN = "AQAEAJz-test-session-token"
SECRET = "KUBELET_KEY=-----BEGIN PRIVATE KEY-----s3cr3t"


def answers(name):
    return {k: v for k, v in json.loads((CLOUD / f"crafted-imds_{name}.json").read_text()).items()
            if not k.startswith("_")}


class Imds(BaseHTTPRequestHandler):
    """AWS IMDSv2 (token, then header), Azure (Metadata: true) and Google (Metadata-Flavor: Google)."""

    seen: list[str] = []

    def log_message(self, *args):
        pass

    def reply(self, status, body=""):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        self.seen.append(f"PUT {self.path}")
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200 if ok else 400, TOKEN if ok else "")

    def do_GET(self):
        self.seen.append(f"GET {self.path}")
        if self.path.startswith("/latest/meta-data/"):
            if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
                return self.reply(401)
            text = answers("aws").get(self.path.removeprefix("/latest/meta-data/"))
            return self.reply(200, text) if text else self.reply(404, "Not Found")
        if self.path == "/metadata/instance?api-version=2021-12-13" and self.headers.get("Metadata") == "true":
            doc = answers("azure")
            doc["compute"]["tags"] = SECRET  # free text a guest's owner may have put anything in
            return self.reply(200, json.dumps(doc))
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.reply(400, "bad request")
        doc = {**answers("gce"), "attributes": {"kube-env": SECRET, "startup-script": SECRET}}
        if self.path == "/computeMetadata/v1/instance/machine-type":
            return self.reply(200, doc["machineType"])
        if self.path.startswith("/computeMetadata/v1/instance/"):  # the whole document, secrets included
            return self.reply(200, json.dumps(doc))
        self.reply(404, "Not Found")


@pytest.fixture
def imds():
    Imds.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Imds.seen
    server.shutdown()
    server.server_close()


def guest_root(tmp_path: Path, **dmi: str) -> Path:
    """A scratch root with one dpkg package and the DMI strings given."""
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(
        "Package: oracle-instantclient\nStatus: install ok installed\nArchitecture: amd64\nVersion: 21.12\n\n")
    (tmp_path / "sys/class/dmi/id").mkdir(parents=True)
    for name, value in dmi.items():
        (tmp_path / "sys/class/dmi/id" / name).write_text(value + "\n")
    return tmp_path


def collect(root: Path, url: str, timeout: float = 2.0) -> dict:
    """software_facts run by ansible on localhost against ``root``; its result as the tree callback wrote it."""
    tree = root.parent / f"{root.name}-tree"
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_CALLBACKS_ENABLED": "tree",
           "ANSIBLE_CALLBACK_TREE_DIR": str(tree), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    args = f"root={root} metadata_url={url} metadata_timeout={timeout}"
    run = subprocess.run([str(BIN / "ansible"), "localhost", "-c", "local", "-e",
                          f"ansible_python_interpreter={sys.executable}", "-m", "fleetsam.sam.software_facts",
                          "-a", args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads((tree / "localhost").read_text())


def test_aws_guest_on_a_dedicated_host(imds, tmp_path):
    url, seen = imds
    root = guest_root(tmp_path / "aws", sys_vendor="Amazon EC2", product_name="m5.2xlarge",
                      product_uuid="EC2A1B2C-3D4E-5F60-7182-93A4B5C6D7E8")
    result = collect(root, url)
    meta = result["host"]["cloud_metadata"]
    assert meta["provider"] == "aws" and meta["errors"] == []
    assert seen[0] == "PUT /latest/api/token"  # IMDSv2: the token before any read
    platform = platform_of(result)
    hardware = platform.host(result, "db1").hardware
    assert (hardware.cloud, hardware.instance_type, hardware.dedicated_host) == ("AWS", "m5.2xlarge",
                                                                                 "h-0123456789abcdef0")
    topo, problems = platform.topology(result, "db1", "db1.json")
    assert problems == []
    (server,), (guest,) = topo.servers, topo.guests
    assert (server.key, server.platform) == ("aws-dedicated:h-0123456789abcdef0", "aws-dedicated")
    assert (guest.bios_uuid, guest.server, guest.name) == ("ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8", server.key, "db1")


def test_azure_and_google_guests(imds, tmp_path):
    url, seen = imds
    azure = collect(guest_root(tmp_path / "az", sys_vendor="Microsoft Corporation", product_name="Virtual Machine",
                               chassis_asset_tag=AZURE_TAG, product_uuid="5A1E3C2B-0000-4D4E-8F9A-0B1C2D3E4F50"), url)
    hw = platform_of(azure).host(azure, "az1").hardware
    assert (hw.cloud, hw.instance_type) == ("Azure", "Standard_E8s_v5")
    assert hw.dedicated_host.endswith("/hostGroups/hg-sql/hosts/dh-sql-01")
    (server,) = platform_of(azure).topology(azure, "az1", "az1.json")[0].servers
    assert server.platform == "azure-dedicated"
    gce = collect(guest_root(tmp_path / "gce", sys_vendor="Google", product_name="Google Compute Engine"), url)
    assert "s3cr3t" not in json.dumps(azure) and "s3cr3t" not in json.dumps(gce)  # nothing but the facts leaves
    assert "GET /computeMetadata/v1/instance/machine-type" in seen
    hw = platform_of(gce).host(gce, "g1").hardware
    assert (hw.cloud, hw.instance_type, hw.dedicated_host) == ("Google Cloud", "n2-standard-8", None)
    assert platform_of(gce).topology(gce, "g1", "g1.json") == (None, [])  # shared hardware: no host to place on


def test_no_request_outside_a_cloud_and_a_dead_service_is_a_warning(imds, tmp_path):
    url, seen = imds
    result = collect(guest_root(tmp_path / "onprem", sys_vendor="Dell Inc.", product_name="PowerEdge R640"), url)
    assert "cloud_metadata" not in result["host"] and seen == []
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    result = collect(guest_root(tmp_path / "aws", sys_vendor="Amazon EC2"), dead, timeout=0.5)
    meta = result["host"]["cloud_metadata"]
    assert meta["answers"] == {} and meta["errors"][0].startswith("token: ")
    assert platform_of(result).host(result, "x").hardware.instance_type is None
    topo, problems = platform_of(result).topology(result, "x", "x.json")
    assert topo is None and [p.severity for p in problems] == ["warning"]


def test_a_google_answer_from_an_older_collector_is_still_read():
    """Before the collector asked for the machine type alone it sent Google's whole instance document."""
    doc = json.dumps(answers("gce"))
    assert cloud.instance_facts({"provider": "gce", "answers": {"instance": doc}}) == ("n2-standard-8", None)


def test_hostile_metadata_is_inert():
    assert cloud.instance_facts({"provider": "aws", "answers": {"instance-type": "m5\n<script>",
                                                                 "placement/host-id": "h" * 500}}) == (None, None)
    assert cloud.instance_facts({"provider": "azure", "answers": {"instance": "[1, 2"}}) == (None, None)
    assert cloud.instance_facts({"provider": "gce", "answers": {"instance": '{"machineType": 5}'}}) == (None, None)
    assert cloud.instance_facts("nope") == (None, None)
    raw = {"cloud_metadata": {"provider": "aws", "answers": {"placement/host-id": "h-1"}, "errors": []},
           "dmi": {"product_uuid": "Not Settable"}}
    topo, problems = cloud.topology(raw, 4, "x", "x.json")
    assert topo is None and problems[0].source == "x.json: host.dmi.product_uuid"
