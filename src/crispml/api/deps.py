"""What routes receive: the one service each uses, from the services the app's lifespan built.

Nothing here exists at import: the services and the thread pool for blocking calls belong to one app
(`Services`, kept in `app.state.services` from start-up to shut-down).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from crispml.container import Container
from crispml.services.access import AccessService
from crispml.services.audit import AuditService
from crispml.services.challenger_policy import ChallengerPolicyService
from crispml.services.ingestion import IngestionService
from crispml.services.jobs import JobService
from crispml.services.lifecycle import LifecycleService
from crispml.services.monitoring import MonitoringService
from crispml.services.operations import OperationsService
from crispml.services.pipelines import PipelineService
from crispml.services.privacy import PrivacyService
from crispml.services.promotion import PromotionService
from crispml.services.retraining import RetrainService
from crispml.services.scoring import ScoringService
from crispml.services.sources import SourceService
from crispml.services.webhooks import WebhookService
from crispml.settings import Settings

T = TypeVar("T")

BLOCKING_THREADS = 64


@dataclass(frozen=True)
class Services:
    """The services of one app, and its pool for blocking calls."""

    settings: Settings
    lifecycle: LifecycleService
    ingestion: IngestionService
    scoring: ScoringService
    operations: OperationsService
    jobs: JobService
    pool: ThreadPoolExecutor
    audit: AuditService
    access: AccessService
    sources: SourceService
    privacy: PrivacyService
    pipelines: PipelineService
    retrain: RetrainService
    webhooks: WebhookService
    monitoring: MonitoringService
    promotion: PromotionService
    challenger_policy: ChallengerPolicyService

    @classmethod
    def of(cls, container: Container) -> Services:
        pool = ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="crispml-http")
        return cls(container.settings, container.lifecycle, container.ingestion, container.scoring,
                   container.operations, container.jobs, pool, container.audit, container.access, container.sources,
                   container.privacy, container.pipelines, container.retrain, container.webhooks,
                   container.monitoring, container.promotion, container.challenger_policy)  # fmt: skip

    async def blocking(self, call: Callable[[], T]) -> T:
        """Run a blocking call (one that waits for a commit) off the event loop.

        asyncio's executor hop costs a fraction of what FastAPI's default for sync routes (anyio's
        to_thread) costs, which on the one-record scoring path was a sixth of the request's CPU.
        """
        # The call runs in this request's context: the acting principal goes with it.
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self.pool, context.run, call)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


# Each dependency is async, so FastAPI calls it on the event loop: a plain def would cost a
# worker-thread hop per request.
async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def lifecycle(request: Request) -> LifecycleService:
    found: Services = request.app.state.services
    return found.lifecycle


async def ingestion(request: Request) -> IngestionService:
    found: Services = request.app.state.services
    return found.ingestion


async def scoring(request: Request) -> ScoringService:
    found: Services = request.app.state.services
    return found.scoring


async def monitoring(request: Request) -> MonitoringService:
    found: Services = request.app.state.services
    return found.monitoring


async def pipelines(request: Request) -> PipelineService:
    found: Services = request.app.state.services
    return found.pipelines


async def promotion(request: Request) -> PromotionService:
    found: Services = request.app.state.services
    return found.promotion


async def operations(request: Request) -> OperationsService:
    found: Services = request.app.state.services
    return found.operations


async def jobs(request: Request) -> JobService:
    found: Services = request.app.state.services
    return found.jobs


async def audit(request: Request) -> AuditService:
    found: Services = request.app.state.services
    return found.audit


async def sources(request: Request) -> SourceService:
    found: Services = request.app.state.services
    return found.sources


async def privacy(request: Request) -> PrivacyService:
    found: Services = request.app.state.services
    return found.privacy


async def access(request: Request) -> AccessService:
    found: Services = request.app.state.services
    return found.access


async def settings(request: Request) -> Settings:
    found: Services = request.app.state.services
    return found.settings


ServicesDep = Annotated[Services, Depends(services)]
"""All of them: only for a route that needs several (the scoring route, in one dependency: it is hot)."""
LifecycleDep = Annotated[LifecycleService, Depends(lifecycle)]
IngestionDep = Annotated[IngestionService, Depends(ingestion)]
ScoringDep = Annotated[ScoringService, Depends(scoring)]
OperationsDep = Annotated[OperationsService, Depends(operations)]
JobsDep = Annotated[JobService, Depends(jobs)]
SettingsDep = Annotated[Settings, Depends(settings)]
AuditDep = Annotated[AuditService, Depends(audit)]
SourcesDep = Annotated[SourceService, Depends(sources)]
PrivacyDep = Annotated[PrivacyService, Depends(privacy)]
PipelinesDep = Annotated[PipelineService, Depends(pipelines)]
MonitoringDep = Annotated[MonitoringService, Depends(monitoring)]
PromotionDep = Annotated[PromotionService, Depends(promotion)]
AccessDep = Annotated[AccessService, Depends(access)]
