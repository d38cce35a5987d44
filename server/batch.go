package server

import (
	"fmt"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
)

// idempotencyKeyHeader on a single create or transition makes it apply once
// per key of the caller, like the operations of a batch (one store of keys):
// a retry with the same key gets the first answer, with replayedHeader.
const (
	idempotencyKeyHeader = "Idempotency-Key"
	replayedHeader       = "Idempotent-Replayed"
)

// opResult is the answer to one operation of a batch: its status as the
// single request would have had it, and the record (with a transition's
// warnings or the approval it opened), or the problem.
type opResult struct {
	Key      string              `json:"key"`
	Status   int                 `json:"status"`
	Record   records.Record      `json:"record,omitempty"`
	Warnings []map[string]string `json:"warnings,omitempty"`
	Approval string              `json:"approval,omitempty"`
	Problem  *Problem            `json:"problem,omitempty"`
	// Replayed: the key had this result already; nothing was applied now.
	Replayed bool `json:"replayed,omitempty"`
}

// batch applies {"operations": [{key, op, entity, id|ref, version, values,
// transition, input}, ...]} for the caller, each on its own, and answers 200
// with one result per operation, in order.
func (a *api) batch(c fiber.Ctx) error {
	in, err := body(c)
	if err != nil {
		return ignoreAnswered(err)
	}
	for k := range in {
		if k != "operations" {
			return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: k, Code: "unknown_field"}})
		}
	}
	raw, ok := in["operations"].([]any)
	switch {
	case in["operations"] == nil:
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "operations", Code: "required"}})
	case !ok:
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "operations", Code: "not_a_list"}})
	case len(raw) > records.MaxBatch:
		return problem(c, fiber.StatusRequestEntityTooLarge, "",
			[]records.FieldError{{Path: "operations", Code: "too_many_operations", Params: map[string]any{"max": records.MaxBatch}}})
	}
	ops := make([]records.Op, len(raw))
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: fmt.Sprintf("operations[%d]", i), Code: "not_an_object"}})
		}
		ops[i] = records.ParseOp(m)
	}
	results, err := a.d.Records.Batch(c.Context(), user(c), ops)
	if err != nil {
		return fail(c, err)
	}
	l := lang(c)
	out := make([]opResult, len(results))
	for i, r := range results {
		out[i] = resultOf(c, l, r)
	}
	return c.JSON(fiber.Map{"results": out})
}

// resultOf renders one operation's result in language l.
func resultOf(c fiber.Ctx, l string, r records.Result) opResult {
	out := opResult{Key: r.Key, Replayed: r.Replayed}
	if r.Err != nil {
		status, detail, fields, ok := classify(r.Err)
		if !ok {
			logError(c, r.Err)
			status = fiber.StatusInternalServerError
		}
		p := newProblem(l, status, detail, fields)
		out.Status, out.Problem = status, &p
		return out
	}
	out.Record, out.Warnings, out.Approval = r.Record, r.Warnings, r.Approval
	switch {
	case r.Approval != "":
		out.Status = fiber.StatusAccepted
	case r.Op == records.OpCreate:
		out.Status = fiber.StatusCreated
	default:
		out.Status = fiber.StatusOK
	}
	return out
}

// createOnce is create under an Idempotency-Key.
func (a *api) createOnce(c fiber.Ctx, key string, values map[string]any) error {
	r := a.d.Records.Once(c.Context(), user(c), records.Op{Key: key, Op: records.OpCreate, Entity: c.Params("entity"), Values: values})
	if r.Replayed {
		c.Set(replayedHeader, "true")
	}
	if r.Err != nil {
		return fail(c, r.Err)
	}
	c.Set(fiber.HeaderETag, etag(r.Record))
	c.Set(fiber.HeaderLocation, "/api/v1/records/"+c.Params("entity")+"/"+r.Record.ID())
	return c.Status(fiber.StatusCreated).JSON(r.Record)
}

// transitionOnce is transition under an Idempotency-Key.
func (a *api) transitionOnce(c fiber.Ctx, key string, version int64, input map[string]any) error {
	r := a.d.Records.Once(c.Context(), user(c), records.Op{Key: key, Op: records.OpTransition, Entity: c.Params("entity"),
		ID: c.Params("id"), Version: version, Transition: c.Params("name"), Input: input})
	if r.Replayed {
		c.Set(replayedHeader, "true")
	}
	if r.Err != nil {
		return fail(c, r.Err)
	}
	c.Set(fiber.HeaderETag, etag(r.Record))
	out := fiber.Map{"record": r.Record, "warnings": r.Warnings}
	if r.Approval != "" {
		out["approval"] = r.Approval
		return c.Status(fiber.StatusAccepted).JSON(out)
	}
	return c.JSON(out)
}
