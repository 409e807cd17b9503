"""A small Hugging Face Hub look-alike for the tests: the part of the HTTP protocol that huggingface_hub 2.x calls.

It keeps repos in memory and answers the real client (``HfApi``, ``snapshot_download``, ``upload_folder``,
``ModelCard.load``) the way the Hub does: content-addressed commits (a commit id hashes its tree, parent,
author and message, so pinning a sha means something), branches and tags, regular and LFS files (preupload →
LFS batch → PUT → NDJSON commit), the ``resolve`` endpoint with ``X-Repo-Commit`` / ``ETag`` /
``X-Linked-Etag`` / ``X-Linked-Size``, and errors tagged with ``X-Error-Code`` so the client raises its typed
exceptions. Private repos need the owner's token; a token that is not known is refused with 401.

Run: ``python tests/fakes/hub_server.py --port 8123 --token alice=SECRET [--token bob=OTHER]``. ``GET /health``
answers once it listens. Only for tests: it binds 127.0.0.1 and has no persistence.

A request this look-alike has no route for (a 404 or 405 that is not one of the Hub's tagged errors) is
answered as FastAPI does, logged, and recorded; ``POST /__test/unhandled`` returns the recorded
``"METHOD /path"`` lines and clears them. The ``hub`` fixture (tests/conftest.py) asks after every test and
fails the test that made such a call: a client call the look-alike does not implement is a defect of the
look-alike, not something to pass over.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qs

import yaml
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

# What the Hub stores with LFS: binary weights by suffix, anything large, anything that is not text.
LFS_SUFFIXES = (".safetensors", ".onnx", ".bin", ".engine", ".pt", ".npy", ".zip")
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class Entry:
    """A file in a commit's tree. Content lives in `Hub.objects`, keyed by git blob id or (LFS) sha256."""

    path: str
    size: int
    oid: str  # git blob id: of the content, or of the LFS pointer
    sha256: str | None = None  # LFS files only
    pointer_size: int | None = None

    @property
    def key(self) -> str:
        return self.sha256 or self.oid

    def to_json(self) -> dict:
        out = {"type": "file", "oid": self.oid, "size": self.size, "path": self.path}
        if self.sha256 is not None:
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        return out


@dataclass
class Commit:
    id: str
    parent: str | None
    tree: dict[str, Entry]
    title: str
    message: str
    author: str
    date: str


@dataclass
class Repo:
    id: str
    owner: str
    private: bool
    created: str
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}

    def response(self) -> JSONResponse:
        headers = {"X-Error-Message": self.message, **self.headers}
        if self.code:
            headers["X-Error-Code"] = self.code
        return JSONResponse({"error": self.message}, status_code=self.status, headers=headers)


def _not_found(repo_id: str, user: str | None) -> HubError:
    # Like the Hub: 401 for an anonymous caller (missing and private look the same), 404 otherwise.
    return HubError(401 if user is None else 404, f"Repository {repo_id} not found", "RepoNotFound")


class Hub:
    def __init__(self, tokens: dict[str, str]):
        self.tokens = tokens  # token -> user name
        self.repos: dict[str, Repo] = {}
        self.objects: dict[str, bytes] = {}
        self.uploads: dict[str, tuple[str, int]] = {}  # one-time LFS upload ticket -> (sha256, size)
        self.unhandled: list[str] = []  # "METHOD /path" of requests no route answered, until taken
        self.lock = threading.RLock()

    # ---- identity -------------------------------------------------------------------------------
    def user(self, request: Request) -> str | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def writer(self, request: Request, namespace: str) -> str:
        user = self.user(request)
        if user is None:
            raise HubError(401, "You must be authenticated to write to the Hub")
        if user != namespace:
            raise HubError(403, f"You don't have the rights to write to the namespace {namespace}")
        return user

    def readable(self, request: Request, repo_id: str) -> Repo:
        user = self.user(request)
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and user != repo.owner):
            raise _not_found(repo_id, user)
        return repo

    def writable(self, request: Request, repo_id: str) -> tuple[Repo, str]:
        namespace = repo_id.split("/", 1)[0]
        user = self.writer(request, namespace)
        repo = self.repos.get(repo_id)
        if repo is None:
            raise _not_found(repo_id, user)
        return repo, user

    # ---- history ----------------------------------------------------------------------------------
    @staticmethod
    def resolve(repo: Repo, revision: str) -> str:
        sha = repo.branches.get(revision) or repo.tags.get(revision)
        if sha is None and SHA_RE.match(revision) and revision in repo.commits:
            sha = revision
        if sha is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha

    def commit(
        self, repo: Repo, parent: str | None, tree: dict[str, Entry], title: str, message: str, author: str
    ) -> Commit:
        tree_id = hashlib.sha1("".join(f"{p}\0{e.oid}\n" for p, e in sorted(tree.items())).encode()).hexdigest()
        date = _now()
        text = f"tree {tree_id}\nparent {parent or ''}\nauthor {author} {date} {time.time_ns()}\n\n{title}\n\n{message}"
        commit = Commit(hashlib.sha1(text.encode()).hexdigest(), parent, tree, title, message, author, date)
        repo.commits[commit.id] = commit
        return commit

    def store(self, path: str, data: bytes, lfs: bool) -> Entry:
        if lfs:
            sha = hashlib.sha256(data).hexdigest()
            pointer = lfs_pointer(sha, len(data))
            self.objects[sha] = data
            return Entry(path, len(data), git_blob_id(pointer), sha, len(pointer))
        oid = git_blob_id(data)
        self.objects[oid] = data
        return Entry(path, len(data), oid)

    def card_data(self, commit: Commit) -> dict | None:
        entry = commit.tree.get("README.md")
        if entry is None:
            return None
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", self.objects[entry.key].decode("utf-8", "replace"), re.S)
        try:
            data = yaml.safe_load(match.group(1)) if match else None
        except yaml.YAMLError:
            return None
        return data if isinstance(data, dict) else None

    def model_json(self, repo: Repo, sha: str, full: bool = True) -> dict:
        commit = repo.commits[sha]
        card = self.card_data(commit) or {}
        tags = [t for t in card.get("tags") or [] if isinstance(t, str)]
        library = card.get("library_name")
        extra = ([library] if isinstance(library, str) else []) + (
            [f"license:{card['license']}"] if isinstance(card.get("license"), str) else []
        )
        tags += [t for t in extra if t not in tags]
        out = {
            "_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24],
            "id": repo.id,
            "modelId": repo.id,
            "author": repo.owner,
            "sha": sha,
            "lastModified": commit.date,
            "createdAt": repo.created,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": tags,
            "library_name": library,
        }
        if full:
            out["cardData"] = card or None
            out["siblings"] = [{"rfilename": p} for p in sorted(commit.tree)]
        return out


def _tree_listing(tree: dict[str, Entry], prefix: str, recursive: bool) -> list[dict]:
    """Files (and folders) under ``prefix``, as /tree returns them."""
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    files, folders = [], set()
    for path in sorted(tree):
        if not path.startswith(base):
            continue
        rest = path[len(base) :]
        parts = rest.split("/")
        for i in range(1, len(parts) if recursive else min(2, len(parts))):
            folders.add(base + "/".join(parts[:i]))
        if recursive or len(parts) == 1:
            files.append(tree[path].to_json())
    folder_items = [
        {"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f}
        for f in sorted(folders)
    ]
    return folder_items + files


def create_app(tokens: dict[str, str]) -> FastAPI:
    hub = Hub(tokens)
    app = FastAPI()

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError):
        return exc.response()

    @app.middleware("http")
    async def _record_unknown_routes(request: Request, call_next):
        # A client call this look-alike does not implement: logged, and recorded for the hub fixture to fail on.
        response = await call_next(request)
        if response.status_code in (404, 405) and "x-error-code" not in response.headers:
            line = f"{request.method} {request.url.path}"
            print(f"unhandled: {line}", file=sys.stderr, flush=True)
            with hub.lock:
                hub.unhandled.append(line)
        return response

    @app.post("/__test/unhandled")
    def take_unhandled():
        """The unhandled requests recorded since the last call (and forget them)."""
        with hub.lock:
            taken, hub.unhandled[:] = list(hub.unhandled), []
        return taken

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.get("/health")
    def health():
        return {"ok": True}

    @app.get("/api/whoami-v2")
    def whoami(request: Request):
        with hub.lock:
            user = hub.user(request)
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return {
            "type": "user",
            "id": user,
            "name": user,
            "fullname": user,
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
        }

    @app.post("/api/repos/create")
    async def create_repo(request: Request):
        body = await request.json()
        name, namespace = body.get("name"), body.get("organization")
        if body.get("type") not in (None, "model"):
            raise HubError(400, "this test hub only has model repos")
        with hub.lock:
            user = hub.user(request)
            if user is None:
                raise HubError(401, "You must be authenticated to create a repo")
            namespace = namespace or user
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise HubError(400, f"invalid repo name {name!r}")
            hub.writer(request, namespace)
            repo_id = f"{namespace}/{name}"
            url = f"{base(request)}/{repo_id}"
            if repo_id in hub.repos:
                return JSONResponse({"error": "You already created this model repo", "url": url}, status_code=409)
            private = body.get("visibility") == "private" or bool(body.get("private"))
            repo = Repo(repo_id, namespace, private, _now())
            first = hub.commit(
                repo,
                None,
                {".gitattributes": hub.store(".gitattributes", GITATTRIBUTES, False)},
                "initial commit",
                "",
                user,
            )
            repo.branches["main"] = first.id
            hub.repos[repo_id] = repo
        return {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]}

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request):
        content = (await request.json()).get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.S)
        if not match:
            return {"errors": [], "warnings": [{"message": "empty or missing yaml metadata in repo card"}]}
        errors = []
        try:
            data = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            data, errors = None, [{"message": f"YAML parse error: {str(exc).splitlines()[0]}"}]
        if not errors and not isinstance(data, dict):
            errors = [{"message": "metadata must be a YAML mapping"}]
        elif not errors:
            errors = [{"message": m} for m in _card_problems(data)]
        return JSONResponse({"errors": errors, "warnings": []}, status_code=400 if errors else 200)

    @app.get("/api/models")
    def list_models(request: Request):
        filters = request.query_params.getlist("filter")
        author = request.query_params.get("author")
        search = request.query_params.get("search")
        with hub.lock:
            user = hub.user(request)
            out = []
            for repo in sorted(hub.repos.values(), key=lambda r: r.id):
                if repo.private and user != repo.owner:
                    continue
                if author and repo.owner != author:
                    continue
                if search and search.lower() not in repo.id.lower():
                    continue
                info = hub.model_json(repo, repo.branches["main"], full=False)
                if all(f in info["tags"] or f == info["library_name"] for f in filters):
                    out.append(info)
        return out

    @app.get("/api/models/{ns}/{name}")
    def model_info(ns: str, name: str, request: Request):
        with hub.lock:
            repo = hub.readable(request, f"{ns}/{name}")
            return hub.model_json(repo, repo.branches["main"])

    @app.get("/api/models/{ns}/{name}/revision/{revision}")
    def model_info_at(ns: str, name: str, revision: str, request: Request):
        with hub.lock:
            repo = hub.readable(request, f"{ns}/{name}")
            return hub.model_json(repo, hub.resolve(repo, revision))

    @app.get("/api/models/{ns}/{name}/tree/{revision}")
    @app.get("/api/models/{ns}/{name}/tree/{revision}/{path:path}")
    def tree(ns: str, name: str, revision: str, request: Request, path: str = ""):
        recursive = request.query_params.get("recursive", "").lower() in ("1", "true")
        with hub.lock:
            repo = hub.readable(request, f"{ns}/{name}")
            commit = repo.commits[hub.resolve(repo, revision)]
            if path and path not in {p.rsplit("/", 1)[0] for p in commit.tree if "/" in p}:
                raise HubError(404, f"{path} does not exist", "EntryNotFound")
            return _tree_listing(commit.tree, path, recursive)

    @app.post("/api/models/{ns}/{name}/paths-info/{revision}")
    async def paths_info(ns: str, name: str, revision: str, request: Request):
        form = parse_qs((await request.body()).decode())
        with hub.lock:
            repo = hub.readable(request, f"{ns}/{name}")
            commit = repo.commits[hub.resolve(repo, revision)]
            return [commit.tree[p].to_json() for p in form.get("paths", []) if p in commit.tree]

    @app.get("/api/models/{ns}/{name}/commits/{revision}")
    def commits(ns: str, name: str, revision: str, request: Request):
        with hub.lock:
            repo = hub.readable(request, f"{ns}/{name}")
            out, sha = [], hub.resolve(repo, revision)
            while sha is not None:
                c = repo.commits[sha]
                out.append(
                    {
                        "id": c.id,
                        "title": c.title,
                        "message": c.message,
                        "date": c.date,
                        "authors": [{"user": c.author}],
                    }
                )
                sha = c.parent
            return out

    @app.get("/api/models/{ns}/{name}/refs")
    def refs(ns: str, name: str, request: Request):
        with hub.lock:
            repo = hub.readable(request, f"{ns}/{name}")
            return {
                "branches": [
                    {"name": b, "ref": f"refs/heads/{b}", "targetCommit": c} for b, c in repo.branches.items()
                ],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in repo.tags.items()],
                "converts": [],
                "pullRequests": [],
            }

    @app.post("/api/models/{ns}/{name}/branch/{branch}")
    async def create_branch(ns: str, name: str, branch: str, request: Request):
        body = await _json_or_empty(request)
        with hub.lock:
            repo, _ = hub.writable(request, f"{ns}/{name}")
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = hub.resolve(repo, body.get("startingPoint") or "main")
        return {}

    @app.post("/api/models/{ns}/{name}/tag/{revision}")
    async def create_tag(ns: str, name: str, revision: str, request: Request):
        body = await _json_or_empty(request)
        with hub.lock:
            repo, _ = hub.writable(request, f"{ns}/{name}")
            tag = body.get("tag")
            if not isinstance(tag, str) or not tag:
                raise HubError(400, "missing tag name")
            if tag in repo.tags:
                raise HubError(409, f"Reference already exists: refs/tags/{tag}")
            repo.tags[tag] = hub.resolve(repo, revision)
        return {}

    @app.post("/api/models/{ns}/{name}/preupload/{revision}")
    async def preupload(ns: str, name: str, revision: str, request: Request):
        body = await request.json()
        with hub.lock:
            repo, _ = hub.writable(request, f"{ns}/{name}")
            head = repo.commits[hub.resolve(repo, revision)]
            files = []
            for item in body.get("files", []):
                sample = base64.b64decode(item.get("sample", ""))
                lfs = item["path"].endswith(LFS_SUFFIXES) or item["size"] >= LFS_MIN_SIZE or b"\0" in sample
                existing = head.tree.get(item["path"])
                remote = None if existing is None else (existing.sha256 or existing.oid)
                files.append(
                    {
                        "path": item["path"],
                        "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False,
                        "oid": remote,
                    }
                )
            return {"files": files, "commitOid": head.id}

    @app.post("/{ns}/{name}.git/info/lfs/objects/batch")
    async def lfs_batch(ns: str, name: str, request: Request):
        body = await request.json()
        if body.get("operation") != "upload":
            raise HubError(400, "this test hub only accepts LFS uploads")
        with hub.lock:
            hub.writable(request, f"{ns}/{name}")
            objects = []
            for obj in body.get("objects", []):
                oid, size = obj["oid"], obj["size"]
                item = {"oid": oid, "size": size}
                if oid not in hub.objects:
                    ticket = secrets.token_urlsafe(16)
                    hub.uploads[ticket] = (oid, size)
                    item["authenticated"] = True
                    item["actions"] = {"upload": {"href": f"{base(request)}/__lfs/{ticket}"}}
                objects.append(item)
        return JSONResponse({"transfer": "basic", "objects": objects}, media_type="application/vnd.git-lfs+json")

    @app.put("/__lfs/{ticket}")
    async def lfs_put(ticket: str, request: Request):
        data = await request.body()
        with hub.lock:
            expected = hub.uploads.pop(ticket, None)
            if expected is None:
                raise HubError(403, "unknown or used upload ticket")
            sha, size = expected
            if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
                raise HubError(400, "uploaded bytes do not match the announced sha256 / size")
            hub.objects[sha] = data
        return Response(status_code=200)

    @app.post("/api/models/{ns}/{name}/commit/{revision}")
    async def commit(ns: str, name: str, revision: str, request: Request):
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit payload must start with a header line")
        header = lines[0]["value"]
        with hub.lock:
            repo, user = hub.writable(request, f"{ns}/{name}")
            if revision not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision} (commits go to a branch)", "RevisionNotFound")
            head = repo.branches[revision]
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise HubError(412, f"parent commit {parent} is not the head of {revision} ({head})")
            tree = dict(repo.commits[head].tree)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                path = value.get("path", "")
                if key == "file":
                    tree[path] = hub.store(path, base64.b64decode(value["content"]), False)
                elif key == "lfsFile":
                    sha = value["oid"]
                    if sha not in hub.objects or len(hub.objects[sha]) != value["size"]:
                        raise HubError(422, f"LFS object {sha} for {path} was never uploaded")
                    pointer = lfs_pointer(sha, value["size"])
                    tree[path] = Entry(path, value["size"], git_blob_id(pointer), sha, len(pointer))
                elif key == "deletedFile":
                    if tree.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    tree = {p: e for p, e in tree.items() if not p.startswith(prefix)}
                else:
                    raise HubError(400, f"unsupported commit operation {key!r}")
            new = hub.commit(repo, head, tree, header.get("summary") or "update", header.get("description") or "", user)
            repo.branches[revision] = new.id
        return {
            "success": True,
            "commitOid": new.id,
            "commitUrl": f"{base(request)}/{repo.id}/commit/{new.id}",
            "pullRequestUrl": None,
        }

    @app.api_route("/{ns}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    def resolve(ns: str, name: str, revision: str, path: str, request: Request):
        with hub.lock:
            repo = hub.readable(request, f"{ns}/{name}")
            sha = hub.resolve(repo, revision)
            entry = repo.commits[sha].tree.get(path)
            if entry is None:
                raise HubError(404, f"{path} does not exist at {sha}", "EntryNotFound", {"X-Repo-Commit": sha})
            data = hub.objects[entry.key]
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{entry.key}"',
            "Content-Length": str(len(data)),
            "Accept-Ranges": "none",
        }
        if entry.sha256 is not None:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        return Response(content=data, status_code=200, headers=headers, media_type="application/octet-stream")

    return app


def _card_problems(data: dict) -> list[str]:
    """What the Hub's metadata validation would reject in a model card (a subset)."""
    problems = []
    if "tags" in data and not (isinstance(data["tags"], list) and all(isinstance(t, str) for t in data["tags"])):
        problems.append('"tags" must be a list of strings')
    for key in ("library_name", "license"):
        if key in data and not isinstance(data[key], str):
            problems.append(f'"{key}" must be a string')
    index = data.get("model-index")
    if index is not None:
        ok = isinstance(index, list) and all(
            isinstance(m, dict)
            and isinstance(m.get("name"), str)
            and isinstance(m.get("results"), list)
            and all(
                isinstance(r.get("task"), dict)
                and isinstance(r["task"].get("type"), str)
                and isinstance(r.get("metrics"), list)
                and all(isinstance(x.get("type"), str) and "value" in x for x in r["metrics"])
                for r in m["results"]
            )
            for m in index
        )
        if not ok:
            problems.append('"model-index" must list {name, results: [{task: {type}, metrics: [{type, value}]}]}')
    return problems


async def _json_or_empty(request: Request) -> dict:
    body = await request.body()
    return json.loads(body) if body.strip() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", action="append", default=[], metavar="USER=TOKEN")
    args = parser.parse_args()
    tokens = {}
    for item in args.token:
        user, _, token = item.partition("=")
        tokens[token] = user
    import uvicorn

    uvicorn.run(create_app(tokens), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
