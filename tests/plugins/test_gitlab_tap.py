"""tap-gitlab 0.5.1 from PyPI, in its own virtualenv, against a GitLab-shaped API served here.

The tap pins requests 2.20.0, singer-python 5.0.4 and jsonschema 2.6.0: it could never share the project's
environment. It has no discovery (singer-python accepts ``--discover`` and the tap ignores it and syncs),
takes its projects from its config, and pages with ``page=N`` until ``X-Total-Pages``. Its streams are
projects, branches, commits, issues, milestones, users and groups: it has no merge requests, so the
declared ``merge_requests`` stream lands empty and untyped and gets no lake table.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest
from plugin_testkit import use_plugin_cache
from project_fixtures import materialize_source, query_lake

from dataops_assets.assets.keys import landing_key
from dataops_assets.automation.runs import run_main_job
from dataops_assets.config import load_pipeline
from dataops_assets.definitions import build_definitions

pytestmark = pytest.mark.slow

PIP_URL = "tap-gitlab==0.5.1 pytz"  # singer-python 5.0.4 imports pytz without declaring it
TOKEN = "glpat-test-7c1d9e0f"
PAGE_SIZE = 2  # small pages, so every listing below spans several

PROJECTS = [
    {
        "id": 101,
        "name": "api",
        "path": "api",
        "path_with_namespace": "acme/api",
        "description": "The API",
        "default_branch": "main",
        "created_at": "2023-05-01T08:00:00.000Z",
        "last_activity_at": "2024-01-15T10:00:00.000Z",
        "namespace": {"id": 7, "name": "acme", "path": "acme", "kind": "group"},
        "owner": {"id": 1, "name": "Ann"},
        "star_count": 3,
        "archived": False,
        "tag_list": ["backend"],
    },
    {
        "id": 102,
        "name": "web",
        "path": "web",
        "path_with_namespace": "acme/web",
        "description": None,
        "default_branch": "main",
        "created_at": "2023-06-01T08:00:00.000Z",
        "last_activity_at": "2024-01-20T12:30:00.000Z",
        "namespace": {"id": 7, "name": "acme", "path": "acme", "kind": "group"},
        "owner": None,
        "star_count": 0,
        "archived": False,
        "tag_list": [],
    },
]
ISSUES = {
    101: [
        {
            "id": 5000 + number,
            "iid": number,
            "project_id": 101,
            "title": f"API issue {number}",
            "description": "details",
            "state": "opened" if number % 2 else "closed",
            "labels": ["bug"] if number % 2 else [],
            "author": {"id": 1, "name": "Ann"},
            "assignee": {"id": 2, "name": "Bob"} if number == 1 else None,
            "milestone": None,
            "created_at": f"2024-01-0{number}T09:00:00.000Z",
            "updated_at": f"2024-01-1{number}T09:00:00.000Z",
            "web_url": f"http://gitlab.test/acme/api/-/issues/{number}",
        }
        for number in range(1, 6)
    ],
    102: [
        {
            "id": 6001,
            "iid": 1,
            "project_id": 102,
            "title": "Web issue",
            "state": "opened",
            "labels": ["ui", "p1"],
            "author": {"id": 2, "name": "Bob"},
            "assignee": None,
            "milestone": {"id": 9, "title": "v1"},
            "created_at": "2024-01-02T09:00:00.000Z",
            "updated_at": "2024-01-19T09:00:00.000Z",
        }
    ],
}
COMMITS = {
    project_id: [
        {
            "id": f"{project_id}{number:037x}",
            "short_id": f"{project_id}{number:05x}",
            "title": f"Commit {number} of {project_id}",
            "message": f"Commit {number} of {project_id}\n\nBody.",
            "author_name": "Ann",
            "author_email": "ann@example.com",
            "committer_name": "Ann",
            "committer_email": "ann@example.com",
            "created_at": f"2024-01-0{number}T1{number}:00:00.000+01:00",
        }
        for number in range(1, count + 1)
    ]
    for project_id, count in {101: 3, 102: 4}.items()
}
MERGE_REQUESTS = {
    101: [{"id": 7001, "iid": 1, "project_id": 101, "title": "Add endpoint", "state": "merged"}],
    102: [],
}


class GitLabApi(BaseHTTPRequestHandler):
    """``/api/v4/projects/<id>[/<listing>]`` with GitLab's pagination headers; 401 without the token."""

    requests_seen: list[str]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.requests_seen.append(url.path)
        if query.get("private_token") != [TOKEN]:
            return self._send(401, {"message": "401 Unauthorized"})
        parts = url.path.removeprefix("/api/v4/").split("/")
        if parts[0] != "projects" or len(parts) < 2 or not parts[1].isdigit():
            return self._send(404, {"message": "404 Not Found"})
        project_id = int(parts[1])
        project = next((p for p in PROJECTS if p["id"] == project_id), None)
        listing = "/".join(parts[2:])
        listings: dict[str, list[dict[str, Any]]] = {
            "issues": ISSUES.get(project_id, []),
            "repository/commits": COMMITS.get(project_id, []),
            "merge_requests": MERGE_REQUESTS.get(project_id, []),
            "repository/branches": [],
            "milestones": [],
            "users": [],
        }
        if project is None or (listing and listing not in listings):
            return self._send(404, {"message": "404 Not Found"})
        if not listing:
            return self._send(200, project)
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", [str(PAGE_SIZE)])[0])
        rows = listings[listing]
        pages = max(1, -(-len(rows) // per_page))
        headers = {"X-Total": str(len(rows)), "X-Total-Pages": str(pages), "X-Per-Page": str(per_page)}
        headers |= {"X-Page": str(page), "X-Next-Page": str(page + 1) if page < pages else ""}
        if page < pages:
            base = f"http://{self.headers['Host']}{url.path}?page={page + 1}&per_page={per_page}"
            headers["Link"] = f'<{base}>; rel="next"'
        return self._send(200, rows[(page - 1) * per_page : page * per_page], headers)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output for failures
        pass


@pytest.fixture
def gitlab_api() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("RecordingGitLabApi", (GitLabApi,), {"requests_seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v4", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(tmp_path: Path, gitlab_api: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> Path:
    api_url, _ = gitlab_api
    use_plugin_cache(tmp_path)
    (tmp_path / "dataops.yaml").write_text(
        textwrap.dedent(
            f"""
            lake: {{path: lake.duckdb, landing_dir: landing}}
            sources:
              gitlab:
                tap: tap-gitlab
                pip_url: {PIP_URL}
                config:
                  api_url: {api_url}
                  private_token: ${{GITLAB_TOKEN}}
                  projects: "101 102"
                  start_date: "2020-01-01T00:00:00Z"
                streams: [projects, issues, merge_requests, commits]
            """
        )
    )
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    return tmp_path


def materialize(project: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return materialize_source(project, "gitlab", instance)


lake = query_lake


def utc(text: str) -> str:
    """GitLab's timestamp as the lake shows it in UTC, to the second."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def served_projects() -> list[tuple[Any, ...]]:
    return [
        (
            p["id"],
            p["name"],
            p["path_with_namespace"],
            utc(p["last_activity_at"]),
            (p["owner"] or {}).get("id"),
        )
        for p in PROJECTS
    ]


def served_issues() -> list[tuple[Any, ...]]:
    issues = sorted((i for listing in ISSUES.values() for i in listing), key=lambda issue: issue["id"])
    return [
        (
            *(i["id"], i["iid"], i["project_id"], i["title"], i["state"], i["labels"], i["author"]["id"]),
            *((i["assignee"] or {}).get("id"), (i["milestone"] or {}).get("id"), utc(i["updated_at"])),
        )
        for i in issues
    ]


def served_commits() -> list[tuple[Any, ...]]:
    rows = [
        (c["id"], project_id, c["short_id"], c["title"], c["author_email"], utc(c["created_at"]))
        for project_id, commits in COMMITS.items()
        for c in commits
    ]
    return sorted(rows)


SECOND = "'%Y-%m-%d %H:%M:%S'"


def test_tap_gitlab_lands_exactly_what_the_api_served(
    project: Path, gitlab_api: tuple[str, list[str]]
) -> None:
    _, requests_seen = gitlab_api
    with dg.DagsterInstance.ephemeral() as instance:
        first = materialize(project, instance)
        logs = "\n".join(str(entry.user_message) for entry in instance.all_logs(first.run_id))
        assert "tap tap-gitlab has no discovery (tap --discover synced instead of printing a catalog" in logs
        assert "Taking the declared streams ['commits', 'issues', 'merge_requests', 'projects']" in logs
        assert TOKEN not in logs  # the tap logs every URL with its private_token: masked

        projects = lake(
            project,
            f"SELECT id, name, path_with_namespace, strftime(last_activity_at, {SECOND}), owner_id "
            "FROM raw_gitlab.projects ORDER BY id",
        )
        assert projects == served_projects()
        assert lake(project, "SELECT namespace.path, tag_list FROM raw_gitlab.projects ORDER BY id") == [
            ("acme", ["backend"]),
            ("acme", []),
        ]
        issues = lake(
            project,
            "SELECT id, iid, project_id, title, state, labels, author_id, assignee_id, milestone_id, "
            f"strftime(updated_at, {SECOND}) FROM raw_gitlab.issues ORDER BY id",
        )
        assert issues == served_issues()
        commits = lake(
            project,
            "SELECT id, project_id, short_id, title, author_email, "
            f"strftime(created_at, {SECOND}) FROM raw_gitlab.commits ORDER BY id",
        )
        assert commits == served_commits()

        # Every page of every listing was fetched; merge requests never were (0.5.1 has no such stream).
        assert requests_seen.count("/api/v4/projects/101/issues") == 3
        assert requests_seen.count("/api/v4/projects/102/repository/commits") == 2
        assert not [path for path in requests_seen if path.endswith("/merge_requests")]
        tables = lake(
            project, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw_gitlab'"
        )
        assert sorted(tables) == [("commits",), ("issues",), ("projects",)]
        merge_requests = next(
            m
            for m in first.get_asset_materialization_events()
            if m.asset_key == landing_key("gitlab", "merge_requests")
        )
        metadata = merge_requests.materialization.metadata
        assert metadata["rows"].value == 0 and "no lake table" in str(metadata["schema"].value)

        # A second run reuses the environment and resumes from the tap's state: nothing is duplicated.
        second = materialize(project, instance)
        logs = "\n".join(str(entry.user_message) for entry in instance.all_logs(second.run_id))
        assert "installing tap-gitlab" not in logs and "state given" in logs
        assert lake(project, "SELECT count(*), count(DISTINCT id) FROM raw_gitlab.issues") == [(6, 6)]
        assert lake(project, "SELECT count(*), count(DISTINCT id) FROM raw_gitlab.commits") == [(7, 7)]
        assert lake(project, "SELECT count(*) FROM raw_gitlab.projects") == [(2,)]


def test_a_dbt_model_joins_the_gitlab_streams_in_one_graph(project: Path, tmp_path: Path) -> None:
    dbt_dir = tmp_path / "gitlab_dbt"
    shutil.copytree(Path(__file__).parent / "gitlab_dbt", dbt_dir)
    declaration = project / "dataops.yaml"
    declaration.write_text(declaration.read_text() + f"\ndbt: {{project_dir: {dbt_dir}}}\n")
    defs = build_definitions(load_pipeline(declaration))
    graph = defs.resolve_asset_graph()
    model = dg.AssetKey(["models", "gitlab_project_activity"])
    assert {dg.AssetKey(["lake", "gitlab", name]) for name in ("projects", "issues", "commits")} <= (
        graph.get(model).parent_keys
    )
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_main_job(defs, instance).success
    expected = []
    for listed in PROJECTS:
        issues = [issue for issue in ISSUES.get(listed["id"], [])]
        expected.append(
            (
                listed["id"],
                listed["path_with_namespace"],
                len(issues),
                sum(issue["state"] == "opened" for issue in issues),
                len(COMMITS.get(listed["id"], [])),
            )
        )
    assert lake(project, "SELECT * FROM main.gitlab_project_activity ORDER BY project_id") == sorted(expected)
