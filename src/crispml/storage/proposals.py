"""Repository of challenger proposals: a challenger the promotion policy proposed for a person's approval."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from crispml.domain.policies import ChallengerProposal
from crispml.errors import NotFound
from crispml.storage import schema as t

_PROPOSAL = t.challenger_proposals


class ProposalRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, proposal: ChallengerProposal) -> bool:
        """Insert a proposal; False (nothing written) if its pair was proposed before, by anyone: of several
        processes proposing the same pair at once, exactly one sees True (the unique constraint)."""
        try:
            with self.connection.begin_nested():
                self.connection.execute(insert(_PROPOSAL).values(**vars(proposal)))
        except IntegrityError:
            return False
        return True

    def of_pair(self, model: str, champion_id: str, challenger_id: str) -> ChallengerProposal | None:
        query = select(_PROPOSAL).where(_PROPOSAL.c.model == model, _PROPOSAL.c.champion_id == champion_id,
                                        _PROPOSAL.c.challenger_id == challenger_id)  # fmt: skip
        row = self.connection.execute(query).mappings().first()
        return None if row is None else ChallengerProposal(**row)

    def open_of(self, model: str) -> ChallengerProposal:
        """The model's open proposal; NotFound saying so when there is none."""
        query = select(_PROPOSAL).where(_PROPOSAL.c.model == model, _PROPOSAL.c.status == "open")
        row = self.connection.execute(query.order_by(_PROPOSAL.c.proposed_at.desc())).mappings().first()
        if row is None:
            raise NotFound(f"model {model!r} has no open challenger proposal; `crispml challenger check {model}` "
                           "makes one when its policy's mode is propose")  # fmt: skip
        return ChallengerProposal(**row)

    def list_proposals(self, model: str | None, status: str | None, limit: int) -> list[ChallengerProposal]:
        query = select(_PROPOSAL).order_by(_PROPOSAL.c.proposed_at.desc(), _PROPOSAL.c.id).limit(limit)
        if model is not None:
            query = query.where(_PROPOSAL.c.model == model)
        if status is not None:
            query = query.where(_PROPOSAL.c.status == status)
        return [ChallengerProposal(**row) for row in self.connection.execute(query).mappings()]

    def decide(self, proposal_id: str, status: str, user: str, at: datetime, reason: str | None) -> bool:
        """Close an open proposal as `status`: of several deciders exactly one sees True."""
        query = (
            update(_PROPOSAL)
            .where(_PROPOSAL.c.id == proposal_id, _PROPOSAL.c.status == "open")
            .values(status=status, decided_by=user, decided_at=at, reason=reason)
        )
        return bool(self.connection.execute(query).rowcount == 1)
