-- project-sync's wiring: the contracts approved through the process API (there is no contract
-- system in the sandboxes), each audited with who approved it and why.
CREATE TABLE project_sync.contract_approvals (
    contract_id    text        NOT NULL,
    version        bigint      NOT NULL,
    opportunity_id text        NOT NULL,
    contract       jsonb       NOT NULL,  -- the canonical Contract
    actor          text        NOT NULL,
    why            text        NOT NULL,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (contract_id, version)
);
CREATE INDEX contract_approvals_by_opportunity
    ON project_sync.contract_approvals (opportunity_id, at);
