"""Promotion between environments: a model version's signed bundle out, a bundle in, and both at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from crispml.api.deps import PromotionDep, ServicesDep
from crispml.api.problems import problem_responses
from crispml.contract import requests as req
from crispml.domain.refs import ModelRef

router = APIRouter(prefix="/api/v1/models", tags=["promotion"])
ModelName = Annotated[req.Name, Path(description="A model's name.")]
VersionNumber = Annotated[req.Version, Path()]
ZIP = "application/zip"
BINARY = {"type": "string", "format": "binary"}
_BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "description": "A signed bundle (a zip file), as `GET .../bundle` or `crispml bundle export` wrote it.",
        "content": {"application/octet-stream": {"schema": BINARY}},
    }
}


@router.get("/{name}/versions/{version}/bundle", summary="A model version as one signed bundle (zip)",
            response_class=Response, responses={200: {"content": {ZIP: {"schema": BINARY}}},
                                                **problem_responses(404, 422)}, name="export_model")  # fmt: skip
async def export_model(name: ModelName, version: VersionNumber, services: ServicesDep) -> Response:
    ref = str(ModelRef.of(name, version=version))
    bundle, summary = await services.blocking(lambda: services.promotion.export(ref))
    filename = f"{name}-{version}-{summary['environment']}.crispml.zip"
    return Response(bundle, media_type=ZIP, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                                     "X-Bundle-SHA256": summary["bundle_sha256"]})  # fmt: skip


@router.post("/import", summary="Import a signed bundle; with alias, this environment's gates decide if it moves",
             openapi_extra=_BUNDLE_BODY, responses=problem_responses(409, 422), name="import_model")  # fmt: skip
async def import_model(
    request: Request,
    services: ServicesDep,
    alias: Annotated[req.Alias | None, Query(description="Move this alias to the version (gates permitting).")] = None,
) -> dict[str, Any]:
    data = await request.body()
    return await services.blocking(lambda: services.promotion.import_bundle(data, alias=alias))


@router.post("/{name}/versions/{version}/promote", summary="Promote a model version to another environment",
             responses=problem_responses(404, 409, 422, 503), name="promote")  # fmt: skip
async def promote(
    name: ModelName,
    version: VersionNumber,
    services: ServicesDep,
    to: Annotated[req.Name, Query(description="The target environment (CRISPML_PROMOTION_TARGETS).")],
    alias: Annotated[req.Alias, Query(description="The target's alias to move.")] = "champion",
) -> dict[str, Any]:
    ref = str(ModelRef.of(name, version=version))
    return await services.blocking(lambda: services.promotion.promote(ref, to=to, alias=alias))


@router.get("/{name}/versions/{version}/provenance", summary="Where a model version came from",
            responses=problem_responses(404, 422), name="provenance")  # fmt: skip
def provenance(name: ModelName, version: VersionNumber, promotion: PromotionDep) -> dict[str, Any]:
    return promotion.provenance(str(ModelRef.of(name, version=version)))
