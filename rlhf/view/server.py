"""The panel's HTTP side: a FastAPI app over the runs, the page, and plotly.js from the plotly wheel.

Read-only by construction: every route is a GET, the only files sent are the page's own
static files, plotly's bundled `plotly.min.js` (so the page works with no network) and files
that `runs.safe_file` finds inside a run directory. Anything else is 404.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

from rlhf.view import runs as rv

STATIC = {"panel.js": "text/javascript", "panel.css": "text/css"}


def plotly_js() -> Path:
    """The plotly.js bundle shipped inside the plotly Python package."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package at {path}")
    return path


def create_app(run_list: list[rv.Run], poll_ms: int = 2000) -> FastAPI:
    app = FastAPI(title="cotrl view", docs_url=None, redoc_url=None, openapi_url=None)
    static = resources.files("rlhf.view") / "static"
    plotly_path = plotly_js()

    def get_run(run_id: int) -> rv.Run:
        if not 0 <= run_id < len(run_list):
            raise HTTPException(404)
        return run_list[run_id]

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return (static / "index.html").read_text(encoding="utf-8").replace("__POLL_MS__", str(poll_ms))

    @app.get("/static/plotly.min.js")
    def plotly() -> FileResponse:
        return FileResponse(plotly_path, media_type="text/javascript")

    @app.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404)
        return Response((static / name).read_text(encoding="utf-8"), media_type=STATIC[name])

    @app.get("/api/runs")
    def list_runs() -> list[dict[str, Any]]:
        out = []
        for i, run in enumerate(run_list):
            cfg = rv.config(run)
            out.append(
                {
                    "id": i,
                    "name": run.name,
                    "path": str(run.root),
                    "trainer": cfg.get("trainer"),
                    "thresholds": rv.thresholds(cfg),
                }
            )
        return out

    @app.get("/api/runs/{run_id}/metrics")
    def metrics(run_id: int, offset: int = 0, ident: str = "") -> dict[str, Any]:
        records, nxt, now = rv.read_jsonl(get_run(run_id).root / rv.METRICS_NAME, max(offset, 0), ident)
        return {"records": records, "offset": nxt, "ident": now, "reset": bool(ident) and ident != now}

    @app.get("/api/runs/{run_id}/samples")
    def samples(run_id: int, offset: int = 0, ident: str = "") -> dict[str, Any]:
        records, nxt, now = rv.read_jsonl(get_run(run_id).root / rv.SAMPLES_NAME, max(offset, 0), ident)
        return {"records": records, "offset": nxt, "ident": now, "reset": bool(ident) and ident != now}

    @app.get("/api/runs/{run_id}/evals")
    def evals(run_id: int) -> dict[str, Any]:
        run = get_run(run_id)
        return {**rv.evaluations(run), "plots": rv.plots(run)}

    @app.get("/api/runs/{run_id}/files/{rel:path}")
    def run_file(run_id: int, rel: str) -> FileResponse:
        path = rv.safe_file(get_run(run_id), rel)
        if path is None:
            raise HTTPException(404)
        return FileResponse(path)

    return app
