package records

import (
	"context"
	"fmt"

	"github.com/yerp/yerp/engine/store"
)

// OutboxPending counts the webhooks not yet delivered nor given up: waiting
// for their (next) attempt or being sent now. For monitoring (/metrics).
func (e *Engine) OutboxPending(ctx context.Context) (int64, error) {
	n, err := e.st.Count(ctx, outboxColl, store.In("status", outboxPending, outboxSending))
	if err != nil {
		return 0, fmt.Errorf("records: outbox: %w", err)
	}
	return n, nil
}

// ApprovalsOpen counts the approvals waiting for a decision, whoever they
// wait for. For monitoring (/metrics).
func (e *Engine) ApprovalsOpen(ctx context.Context) (int64, error) {
	n, err := e.st.Count(ctx, approvalsColl, store.Eq("status", ApprovalOpen))
	if err != nil {
		return 0, fmt.Errorf("records: approvals: %w", err)
	}
	return n, nil
}
