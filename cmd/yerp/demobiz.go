package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
)

// demoRun drives the demo company's business through the records engine, as
// its staff would: every record is created by the user whose role creates
// it, and every state is reached through the template's transitions (with
// their checks, approvals and stock and ledger effects).
type demoRun struct {
	ctx   context.Context
	eng   *records.Engine
	r     *rand.Rand
	staff map[string]records.User
	today time.Time

	warehouses []string       // ids of WH1..WH3
	customers  []demoParty    // id and default warehouse
	suppliers  []demoParty    // goods suppliers
	couriers   []string       // supplier ids of the courier companies
	items      []demoItem     // id, barcode, price
	states     map[string]int // "entity state" → records
}

type demoParty struct{ id, code, warehouse string }

type demoItem struct {
	id, code, barcode string
	price             float64
}

func newDemoRun(ctx context.Context, eng *records.Engine, staff map[string]records.User, c demoCompany) (*demoRun, error) {
	d := &demoRun{ctx: ctx, eng: eng, staff: staff, today: time.Now(),
		r: rand.New(rand.NewPCG(demoSeed, 7)), states: map[string]int{}}
	all := func(entity string) ([]records.Record, error) {
		var out []records.Record
		q := records.ListQuery{Sort: []string{"code"}, Limit: records.MaxPage}
		for {
			page, err := eng.List(ctx, staff["admin"], entity, q)
			if err != nil {
				return nil, fmt.Errorf("demo: list %s: %w", entity, err)
			}
			out = append(out, page.Records...)
			if q.After = page.Next; q.After == "" {
				return out, nil
			}
		}
	}
	whs, err := all("warehouse")
	if err != nil {
		return nil, err
	}
	whByCode := map[string]string{}
	for _, w := range whs {
		d.warehouses = append(d.warehouses, w.ID())
		whByCode[fmt.Sprint(w["code"])] = w.ID()
	}
	cs, err := all("customer")
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		d.customers = append(d.customers, demoParty{id: c.ID(), code: fmt.Sprint(c["code"]), warehouse: fmt.Sprint(c["default_warehouse"])})
	}
	ss, err := all("supplier")
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		p := demoParty{id: s.ID(), code: fmt.Sprint(s["code"])}
		if strings.HasPrefix(p.code, "K-") {
			d.couriers = append(d.couriers, p.id)
		} else {
			d.suppliers = append(d.suppliers, p)
		}
	}
	is, err := all("item")
	if err != nil {
		return nil, err
	}
	for _, it := range is {
		var price float64
		fmt.Sscan(fmt.Sprint(it["price"]), &price)
		d.items = append(d.items, demoItem{id: it.ID(), code: fmt.Sprint(it["code"]), barcode: fmt.Sprint(it["barcode"]), price: price})
	}
	if len(d.warehouses) < 3 || len(d.customers) == 0 || len(d.couriers) == 0 || len(d.items) == 0 {
		return nil, fmt.Errorf("demo: master data incomplete: %d warehouses, %d customers, %d couriers, %d items",
			len(d.warehouses), len(d.customers), len(d.couriers), len(d.items))
	}
	return d, nil
}

// day returns the date n days before today, as the engine stores dates.
func (d *demoRun) day(n int) string { return d.today.AddDate(0, 0, -n).Format(time.DateOnly) }

// pick returns one of names at random.
func (d *demoRun) pick(names ...string) string { return names[d.r.IntN(len(names))] }

// create creates a record as the named user.
func (d *demoRun) create(as, entity string, values map[string]any) (records.Record, error) {
	rec, err := d.eng.Create(d.ctx, d.staff[as], entity, values)
	if err != nil {
		return nil, fmt.Errorf("demo: %s creates %s: %w", as, entity, err)
	}
	return rec, nil
}

// take takes a transition as the named user and, when it opens an approval,
// has the approvers decide it (each step by the first of them allowed to).
func (d *demoRun) take(as string, rec records.Record, entity, name string, input map[string]any, approvers ...string) (records.Record, error) {
	t, err := d.eng.Transition(d.ctx, d.staff[as], entity, rec.ID(), name, rec.Version(), input)
	if err != nil {
		return nil, fmt.Errorf("demo: %s takes %s of %s %v: %w", as, name, entity, rec["number"], err)
	}
	if t.Approval == "" {
		return t.Record, nil
	}
	for step := 0; step < 5; step++ {
		var a records.Approval
		decided := false
		for _, who := range approvers {
			if a, err = d.eng.Decide(d.ctx, d.staff[who], t.Approval, records.Approve, "同意"); err == nil {
				decided = true
				break
			}
		}
		if !decided {
			return nil, fmt.Errorf("demo: no one of %v could approve %s of %s: %w", approvers, name, entity, err)
		}
		if a.Status != records.ApprovalOpen {
			break
		}
	}
	return d.eng.Get(d.ctx, d.staff["admin"], entity, rec.ID())
}

type demoStep struct {
	as, name  string
	input     map[string]any
	approvers []string
}

func step(as, name string, input map[string]any, approvers ...string) demoStep {
	return demoStep{as: as, name: name, input: input, approvers: approvers}
}

// count notes a record's final state.
func (d *demoRun) count(entity string, rec records.Record) {
	d.states[entity+" "+fmt.Sprint(rec["state"])]++
}

// summary lists records per entity and state.
func (d *demoRun) summary() string {
	keys := make([]string, 0, len(d.states))
	for k := range d.states {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, d.states[k])
	}
	return strings.Join(parts, ", ")
}

// lines returns n order lines of distinct random items with quantities in
// [lo, hi].
func (d *demoRun) lines(n, lo, hi int) []any {
	idx := d.r.Perm(len(d.items))[:n]
	out := make([]any, n)
	for i, j := range idx {
		out[i] = map[string]any{"item": d.items[j].id, "qty": fmt.Sprint(lo + d.r.IntN(hi-lo+1))}
	}
	return out
}

// stockedLines returns n lines of distinct items with quantities in [lo, hi]
// that warehouse wh has available now (fewer when it runs short), so that
// the orders that go on to be allocated can be.
func (d *demoRun) stockedLines(wh string, n, lo, hi int) ([]any, error) {
	var out []any
	for _, j := range d.r.Perm(len(d.items)) {
		if len(out) == n {
			break
		}
		qty := lo + d.r.IntN(hi-lo+1)
		bin, err := d.eng.Stock(d.ctx, d.items[j].id, wh)
		if err != nil {
			return nil, err
		}
		if bin.Available.Cmp(decimalOf(qty+hi)) < 0 {
			continue // keep a margin: stock also goes to COD orders and transfers
		}
		out = append(out, map[string]any{"item": d.items[j].id, "qty": fmt.Sprint(qty)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("demo: warehouse %s has nothing left to sell", wh)
	}
	return out, nil
}

func (d *demoRun) item(id string) demoItem {
	for _, it := range d.items {
		if it.id == id {
			return it
		}
	}
	return demoItem{}
}

// business loads a few months of the company's work.
func (d *demoRun) business() error {
	for _, f := range []func() error{d.openingStock, d.purchasing, d.sales, d.cod, d.stockDocuments, d.campaign, d.waiting} {
		if err := f(); err != nil {
			return err
		}
	}
	return d.tally()
}

// waiting leaves requests open in the approvers' inboxes: a large purchase
// order for the purchasing manager, and an order over its customer's credit
// limit for the sales manager.
func (d *demoRun) waiting() error {
	sup, wh := d.suppliers[0], d.warehouses[0]
	var lines []any
	for _, it := range d.items[:6] {
		lines = append(lines, map[string]any{"item": it.id, "qty": "600"})
	}
	po, err := d.create("buyer", "purchase_order", map[string]any{"supplier": sup.id, "warehouse": wh, "expected_date": d.day(-10), "lines": lines})
	if err != nil {
		return err
	}
	if _, err := d.eng.Transition(d.ctx, d.staff["buyer"], "purchase_order", po.ID(), "confirm", po.Version(), nil); err != nil {
		return fmt.Errorf("demo: request approval of %v: %w", po["number"], err)
	}
	// The customer with the smallest credit limit orders a truck load.
	cust := d.customers[0]
	for _, c := range d.customers {
		rec, err := d.eng.Get(d.ctx, d.staff["admin"], "customer", c.id)
		if err != nil {
			return err
		}
		if fmt.Sprint(rec["credit_limit"]) == "20000" {
			cust = c
			break
		}
	}
	lines, err = d.stockedLines(cust.warehouse, 4, 40, 60)
	if err != nil {
		return err
	}
	so, err := d.create("sales2", "sales_order", map[string]any{"customer": cust.id, "warehouse": cust.warehouse, "payment_method": "credit", "lines": lines})
	if err != nil {
		return err
	}
	if t, err := d.eng.Transition(d.ctx, d.staff["sales2"], "sales_order", so.ID(), "confirm", so.Version(), nil); err != nil || t.Approval == "" {
		return fmt.Errorf("demo: an order over the credit limit did not wait for approval: %v", err)
	}
	return nil
}

// tally counts the demo's records per entity and state, from the store.
func (d *demoRun) tally() error {
	d.states = map[string]int{}
	for _, entity := range []string{"purchase_order", "goods_receipt", "sales_order", "delivery_note", "payment", "settlement",
		"cod_order", "cod_remittance", "stocktake", "stock_transfer", "sales_return", "customer_audit_visit", "customer_change_request"} {
		q := records.ListQuery{Limit: records.MaxPage}
		for {
			page, err := d.eng.List(d.ctx, d.staff["admin"], entity, q)
			if err != nil {
				return err
			}
			for _, rec := range page.Records {
				d.count(entity, rec)
			}
			if q.After = page.Next; q.After == "" {
				break
			}
		}
	}
	return nil
}

// openingStock posts each warehouse's opening balances: every item, 150–600
// units in the main warehouse and fewer in the branches; a few items start
// below their minimum so the low-stock list has something to show.
func (d *demoRun) openingStock() error {
	for w, wh := range d.warehouses {
		var lines []any
		for i, it := range d.items {
			qty := 150 + d.r.IntN(450)
			if w > 0 {
				qty = 60 + d.r.IntN(240)
			}
			if i%17 == 5 {
				qty = 3 + d.r.IntN(8)
			}
			lines = append(lines, map[string]any{"item": it.id, "qty": fmt.Sprint(qty)})
		}
		rec, err := d.create("keeper", "opening_stock", map[string]any{"warehouse": wh, "as_of": d.day(180), "lines": lines})
		if err != nil {
			return err
		}
		if rec, err = d.take("keeper", rec, "opening_stock", "post", nil); err != nil {
			return err
		}
		d.count("opening_stock", rec)
	}
	return nil
}

// purchasing: 60 purchase orders, from drafts to fully received ones, some
// received in two deliveries, some late.
func (d *demoRun) purchasing() error {
	for i := 0; i < 60; i++ {
		sup := d.suppliers[d.r.IntN(len(d.suppliers))]
		wh := d.warehouses[d.r.IntN(len(d.warehouses))]
		ago := 5 + d.r.IntN(170)
		lines := d.lines(1+d.r.IntN(4), 20, 120)
		po, err := d.create(d.pick("buyer", "buymgr"), "purchase_order", map[string]any{
			"supplier": sup.id, "warehouse": wh, "order_date": d.day(ago), "expected_date": d.day(ago - 7), "lines": lines,
		})
		if err != nil {
			return err
		}
		switch k := i % 12; {
		case k == 0:
			// stays a draft
		case k == 1:
			po, err = d.take("buyer", po, "purchase_order", "cancel", nil)
		default:
			if po, err = d.take("buyer", po, "purchase_order", "confirm", nil, "buymgr", "finance"); err != nil {
				return err
			}
			if k == 2 {
				break // approved, nothing received yet
			}
			// k 3–5: one partial delivery; otherwise received in full.
			first := make([]any, len(lines))
			for j, l := range lines {
				row := l.(map[string]any)
				qty := row["qty"].(string)
				if k <= 5 {
					var q int
					fmt.Sscan(qty, &q)
					qty = fmt.Sprint(q / 2)
				}
				first[j] = map[string]any{"item": row["item"], "qty": qty, "barcode": d.item(row["item"].(string)).barcode}
			}
			late := ago - 7 - d.r.IntN(12) // some arrive after the expected date
			if late < 0 {
				late = 0
			}
			var gr records.Record
			if gr, err = d.create("keeper", "goods_receipt", map[string]any{"purchase_order": po.ID(), "receipt_date": d.day(late), "lines": first}); err != nil {
				return err
			}
			if gr, err = d.take("keeper", gr, "goods_receipt", "receive", nil, "buymgr"); err != nil {
				return err
			}
			d.count("goods_receipt", gr)
			if po, err = d.eng.Get(d.ctx, d.staff["admin"], "purchase_order", po.ID()); err == nil && k == 3 {
				po, err = d.take("buymgr", po, "purchase_order", "close", map[string]any{"reason": "供应商无法补足余量，余量结案"})
			}
		}
		if err != nil {
			return err
		}
		d.count("purchase_order", po)
	}
	return nil
}

// sales: 400 wholesale orders by four salespeople over six months, in every
// state of the pipeline.
func (d *demoRun) sales() error {
	sellers := []string{"sales1", "sales2", "sales3", "sales4"}
	toSettle := map[string][]records.Record{}
	for i := 0; i < 400; i++ {
		seller := sellers[i%len(sellers)]
		cust := d.customers[d.r.IntN(len(d.customers))]
		ago := d.r.IntN(175)
		method := d.pick("credit", "credit", "credit", "bank_transfer", "cash")
		lines, err := d.stockedLines(cust.warehouse, 1+d.r.IntN(4), 2, 24)
		if err != nil {
			return err
		}
		so, err := d.create(seller, "sales_order", map[string]any{
			"customer": cust.id, "warehouse": cust.warehouse, "order_date": d.day(ago),
			"delivery_date": d.day(max(ago-3, 0)), "payment_method": method, "lines": lines,
		})
		if err != nil {
			return err
		}
		// How far this order goes: recent orders are earlier in the pipeline;
		// some older ones are still unpaid (receivable ageing) or shipped
		// without an invoice, waiting for a settlement.
		stage := 7
		switch {
		case i%40 == 3:
			stage = -1 // cancelled
		case ago < 6:
			stage = d.r.IntN(4)
		case ago < 25:
			stage = 2 + d.r.IntN(4)
		case i%10 == 1:
			stage = 5 + d.r.IntN(2)
		case i%25 == 2:
			stage = 4
		}
		if so, err = d.salesPipeline(seller, so, stage); err != nil {
			return err
		}
		if i%50 == 7 && so["state"] != "cancelled" && so["state"] != "completed" {
			// 转交: handed to a colleague, who accepts.
			to := sellers[(i+1)%len(sellers)]
			if so, err = d.take(seller, so, "sales_order", "transfer", map[string]any{"to_user": d.staff[to].ID, "reason": "客户区域调整，转交同事跟进"}); err != nil {
				return err
			}
			if so, err = d.take(to, so, "sales_order", "accept_transfer", nil); err != nil {
				return err
			}
		}
		if stage == 4 && ago >= 25 && so["state"] == "shipped" {
			toSettle[cust.id] = append(toSettle[cust.id], so)
		}
		d.count("sales_order", so)
	}
	return d.settlements(toSettle)
}

// settlements settles shipped orders per customer (结算): with an invoice,
// or without one (没有发票) on a provisional voucher backed by a scanned
// contract; some are paid in full, some in part, some overdue, one
// provisional voucher is converted when its invoice arrives.
func (d *demoRun) settlements(toSettle map[string][]records.Record) error {
	customers := make([]string, 0, len(toSettle))
	for c := range toSettle {
		customers = append(customers, c)
	}
	slices.Sort(customers)
	for i, cust := range customers {
		var lines []any
		for _, so := range toSettle[cust] {
			lines = append(lines, map[string]any{"sales_order": so.ID()})
		}
		values := map[string]any{"customer": cust, "lines": lines, "due_date": d.day(20 - 15*(i%3))}
		if i%2 == 0 {
			values["basis"], values["invoice_no"] = "invoice", fmt.Sprintf("%08d", 42000000+i)
		} else {
			proof, err := d.eng.Upload(d.ctx, d.staff["finance"], "settlement", "proof_file", "购销合同.pdf", strings.NewReader(demoPDF))
			if err != nil {
				return fmt.Errorf("demo: upload proof: %w", err)
			}
			values["basis"], values["proof_type"], values["proof_ref"], values["proof_file"] = "no_invoice", "contract", fmt.Sprintf("HT-2026-%03d", 100+i), proof.ID
			values["proof_note"] = "客户暂未取得发票，凭年度购销合同结算"
		}
		st, err := d.create("finance", "settlement", values)
		if err != nil {
			return err
		}
		if st, err = d.take("finance", st, "settlement", "post", nil); err != nil {
			return err
		}
		var amount float64
		fmt.Sscan(fmt.Sprint(st["amount"]), &amount)
		switch i % 4 {
		case 0: // paid in full
			err = d.settlementPayment(st, amount)
		case 1: // paid in part
			err = d.settlementPayment(st, float64(int(amount*50))/100)
		case 3: // the invoice arrived
			if st["basis"] == "no_invoice" {
				_, err = d.take("finance", st, "settlement", "convert", map[string]any{"invoice_no": fmt.Sprintf("%08d", 43000000+i)})
			}
		}
		if err != nil {
			return err
		}
		if st, err = d.eng.Get(d.ctx, d.staff["admin"], "settlement", st.ID()); err != nil {
			return err
		}
		if st["state"] != "paid" && fmt.Sprint(st["due_date"]) < d.day(0) {
			if st, err = d.take("finance", st, "settlement", "mark_overdue", nil); err != nil {
				return err
			}
		}
		d.count("settlement", st)
	}
	return nil
}

func (d *demoRun) settlementPayment(st records.Record, amount float64) error {
	pay, err := d.create("finance", "settlement_payment", map[string]any{
		"settlement": st.ID(), "method": "bank_transfer", "bank_ref": fmt.Sprintf("HZB%012d", d.r.Int64N(1e12)), "amount": fmt.Sprintf("%.2f", amount),
	})
	if err != nil {
		return err
	}
	_, err = d.take("finance", pay, "settlement_payment", "post", nil)
	return err
}

// demoPDF is a one-page PDF standing in for a scanned contract.
const demoPDF = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

// salesPipeline takes a draft order to stage: 0 draft, 1 confirmed, 2
// allocated (picking), 3 packed, 4 shipped, 5 invoiced, 6 partly paid, 7
// completed; -1 cancelled.
func (d *demoRun) salesPipeline(seller string, so records.Record, stage int) (records.Record, error) {
	var err error
	if stage == 0 {
		return so, nil
	}
	if so, err = d.take(seller, so, "sales_order", "confirm", nil, "manager"); err != nil {
		return nil, err
	}
	if stage == -1 {
		return d.take(seller, so, "sales_order", "cancel", map[string]any{"reason": "客户取消订货"})
	}
	if stage == 1 {
		return so, nil
	}
	if so, err = d.take("keeper", so, "sales_order", "allocate", nil); err != nil {
		return nil, err
	}
	if stage == 2 {
		return so, nil
	}
	note, err := d.eng.Get(d.ctx, d.staff["admin"], "delivery_note", fmt.Sprint(so["delivery_note"]))
	if err != nil {
		return nil, fmt.Errorf("demo: delivery note of %v: %w", so["number"], err)
	}
	rows, _ := note["lines"].([]any)
	scanned := make([]any, len(rows))
	for j, r := range rows {
		row := r.(map[string]any)
		it := d.item(fmt.Sprint(row["item"]))
		next := map[string]any{}
		for k, v := range row {
			next[k] = v
		}
		next["scanned"], next["packed_qty"] = it.barcode, row["qty"]
		scanned[j] = next
	}
	if note, err = d.eng.Update(d.ctx, d.staff["keeper"], "delivery_note", note.ID(), note.Version(), map[string]any{"lines": scanned}); err != nil {
		return nil, fmt.Errorf("demo: scan delivery note: %w", err)
	}
	if note, err = d.take("keeper", note, "delivery_note", "pack", nil); err != nil {
		return nil, err
	}
	if stage == 3 {
		return d.eng.Get(d.ctx, d.staff["admin"], "sales_order", so.ID())
	}
	carrier := d.pick("顺丰速运", "德邦物流", "中通快运", "安能物流")
	if _, err = d.take("keeper2", note, "delivery_note", "ship", map[string]any{
		"carrier": carrier, "tracking_no": fmt.Sprintf("%s%010d", map[string]string{"顺丰速运": "SF", "德邦物流": "DPK", "中通快运": "ZT", "安能物流": "AN"}[carrier], d.r.Int64N(1e10)),
		"ship_date": so["delivery_date"],
	}); err != nil {
		return nil, err
	}
	if so, err = d.eng.Get(d.ctx, d.staff["admin"], "sales_order", so.ID()); err != nil || stage == 4 {
		return so, err
	}
	due, _ := time.Parse(time.DateOnly, fmt.Sprint(so["order_date"]))
	if so, err = d.take("finance", so, "sales_order", "invoice", map[string]any{
		"invoice_no": fmt.Sprintf("%08d", 31000000+d.r.IntN(999999)), "due_date": due.AddDate(0, 0, 30).Format(time.DateOnly),
	}); err != nil || stage == 5 {
		return so, err
	}
	total := fmt.Sprint(so["total"])
	if stage == 6 {
		var t float64
		fmt.Sscan(total, &t)
		total = fmt.Sprintf("%.2f", float64(int(t*0.4*100))/100)
	}
	payment := map[string]any{"sales_order": so.ID(), "method": d.pick("bank_transfer", "bank_transfer", "cash"), "amount": total, "paid_on": so["due_date"]}
	if payment["method"] == "bank_transfer" {
		payment["bank_ref"] = fmt.Sprintf("HZB%012d", d.r.Int64N(1e12))
	}
	pay, err := d.create("finance", "payment", payment)
	if err != nil {
		return nil, err
	}
	if pay, err = d.take("finance", pay, "payment", "post", nil); err != nil {
		return nil, err
	}
	d.count("payment", pay)
	if so, err = d.eng.Get(d.ctx, d.staff["admin"], "sales_order", so.ID()); err != nil || stage == 6 || so["state"] == "completed" {
		return so, err
	}
	return d.take(seller, so, "sales_order", "complete", nil)
}

// cod: 80 cash-on-delivery orders in every state of the COD document, and
// the couriers' remittances of what they collected.
func (d *demoRun) cod() error {
	var collected []records.Record
	for i := 0; i < 80; i++ {
		cust := d.customers[d.r.IntN(len(d.customers))]
		seller := d.pick("sales1", "sales2", "sales3", "sales4")
		lines, err := d.stockedLines(cust.warehouse, 1+d.r.IntN(3), 1, 6)
		if err != nil {
			return err
		}
		order, err := d.create(seller, "cod_order", map[string]any{
			"customer": cust.id, "warehouse": cust.warehouse, "order_date": d.day(d.r.IntN(60)),
			"payment_method": d.pick("cash", "card", "mobile"), "lines": lines,
		})
		if err != nil {
			return err
		}
		courier := d.couriers[d.r.IntN(len(d.couriers))]
		ship := map[string]any{"courier": courier, "tracking_no": fmt.Sprintf("COD%09d", d.r.IntN(1e9))}
		path := []demoStep{step(seller, "confirm", nil), step("keeper", "ship", ship), step(seller, "sign", map[string]any{"signed_by": "本人签收"})}
		switch k := i % 16; {
		case k == 0:
			path = nil // 待付款
		case k == 1:
			path = path[:1] // 待发货
		case k == 2:
			path = append(path[:1], step(seller, "cancel", nil))
		case k == 3 || k == 4:
			path = path[:2] // 已发货
		case k == 5:
			path = append(path[:2], step(seller, "refuse", map[string]any{"reason": "收货人拒收：包装破损"}))
		case k == 6:
			// 已签收, waiting for the money
		case k == 7:
			path = append(path, step("finance", "report_difference", map[string]any{"collected_amount": "0.00", "reason": "快递员未收到现金，待核实"}))
		case k == 8:
			path = append(path, step(seller, "report_difference", map[string]any{"collected_amount": "1.00", "reason": "客户少付，已签字确认"}),
				step(seller, "accept_difference", nil, "finance", "finance2"))
		default:
			path = append(path, step(seller, "collect", nil))
			if k%2 == 0 {
				path = append(path, step("finance", "complete", nil))
			}
		}
		for _, s := range path {
			// The amounts depend on what confirm set as due.
			if s.name == "collect" {
				s.input = map[string]any{"collected_amount": fmt.Sprint(order["amount_due"])}
			}
			if s.name == "report_difference" && s.input["collected_amount"] == "1.00" {
				var due float64
				fmt.Sscan(fmt.Sprint(order["amount_due"]), &due)
				s.input["collected_amount"] = fmt.Sprintf("%.2f", due-5)
			}
			if order, err = d.take(s.as, order, "cod_order", s.name, s.input, s.approvers...); err != nil {
				return err
			}
		}
		if order["state"] == "collected" || order["state"] == "completed" {
			collected = append(collected, order)
		}
		d.count("cod_order", order)
	}
	// Each courier remits what it collected, on one remittance per courier.
	byCourier := map[string][]records.Record{}
	for _, o := range collected {
		c := fmt.Sprint(o["courier"])
		byCourier[c] = append(byCourier[c], o)
	}
	for _, courier := range d.couriers {
		orders := byCourier[courier]
		if len(orders) == 0 {
			continue
		}
		var lines []any
		var sum float64
		for _, o := range orders {
			lines = append(lines, map[string]any{"cod_order": o.ID()})
			var v float64
			fmt.Sscan(fmt.Sprint(o["collected_amount"]), &v)
			sum += v
		}
		rem, err := d.create("finance", "cod_remittance", map[string]any{"courier": courier, "amount_remitted": fmt.Sprintf("%.2f", sum), "lines": lines})
		if err != nil {
			return err
		}
		if rem, err = d.take("finance", rem, "cod_remittance", "confirm", nil); err != nil {
			return err
		}
		d.count("cod_remittance", rem)
	}
	return nil
}

// stockDocuments: transfers between warehouses, customer returns (entered
// by sales, received by the warehouse, credited by finance), and a
// stocktake per warehouse (the last one still being counted).
func (d *demoRun) stockDocuments() error {
	for i := 0; i < 6; i++ {
		tr, err := d.create("keeper", "stock_transfer", map[string]any{
			"from_warehouse": d.warehouses[0], "to_warehouse": d.warehouses[1+i%2], "transfer_date": d.day(30 - 5*i), "lines": d.lines(2, 5, 20),
		})
		if err != nil {
			return err
		}
		if i < 5 {
			if tr, err = d.take("keeper", tr, "stock_transfer", "send", nil); err != nil {
				return err
			}
		}
		d.count("stock_transfer", tr)
	}
	for i := 0; i < 4; i++ {
		cust := d.customers[d.r.IntN(len(d.customers))]
		ret, err := d.create(d.pick("sales1", "sales2", "sales3", "sales4"), "sales_return", map[string]any{
			"customer": cust.id, "warehouse": cust.warehouse, "original_order_no": fmt.Sprintf("SO-%05d", 1+d.r.IntN(300)),
			"reason": d.pick("quality", "wrong_goods", "damaged_in_transit", "overstock"), "lines": d.lines(1, 1, 4),
		})
		if err != nil {
			return err
		}
		if i > 0 {
			if ret, err = d.take("keeper", ret, "sales_return", "receive", nil); err != nil {
				return err
			}
		}
		if i > 1 {
			if ret, err = d.take("finance", ret, "sales_return", "credit", nil); err != nil {
				return err
			}
		}
		d.count("sales_return", ret)
	}
	for w, wh := range d.warehouses {
		// Count 30 items; a few differ from the books by a unit or two.
		var lines []any
		for j, k := range d.r.Perm(len(d.items))[:30] {
			it := d.items[k]
			bin, err := d.eng.Stock(d.ctx, it.id, wh)
			if err != nil {
				return err
			}
			counted := bin.OnHand
			if j%7 == 3 {
				counted = counted.Sub(decimalOf(1 + d.r.IntN(2)))
			}
			lines = append(lines, map[string]any{"item": it.id, "barcode": it.barcode, "counted": counted.String()})
		}
		st, err := d.create("keeper", "stocktake", map[string]any{"warehouse": wh, "scope": "warehouse", "lines": lines})
		if err != nil {
			return err
		}
		if w < 2 {
			if st, err = d.take("keeper", st, "stocktake", "post", nil, "finance"); err != nil {
				return err
			}
		}
		d.count("stocktake", st)
	}
	return nil
}

// campaign: this quarter's customer audit over 40 customers, visits assigned
// to the two field staff members: verified, corrected (change requests
// approved or still waiting), unreachable, or not yet visited.
func (d *demoRun) campaign() error {
	camp, err := d.create("manager", "customer_audit", map[string]any{
		"name": "第四季度客户资料核实", "start_date": d.day(20), "end_date": d.day(-40),
		"instructions": "核对联系人、电话、地址，确认是否仍在经营，拍摄门头照片",
	})
	if err != nil {
		return err
	}
	if camp, err = d.take("manager", camp, "customer_audit", "start", nil); err != nil {
		return err
	}
	d.count("customer_audit", camp)
	for i, c := range d.customers[:40] {
		visit, err := d.create("manager", "customer_audit_visit", map[string]any{"campaign": camp.ID(), "customer": c.id})
		if err != nil {
			return err
		}
		field := []string{"field1", "field2"}[i%2]
		switch k := i % 8; {
		case k == 0:
			// not assigned yet
		default:
			if visit, err = d.take("manager", visit, "customer_audit_visit", "assign", map[string]any{"field_staff": d.staff[field].ID}); err != nil {
				return err
			}
			switch k {
			case 1:
				// assigned, not visited yet
			case 2:
				visit, err = d.take(field, visit, "customer_audit_visit", "mark_unreachable", map[string]any{"reason": "电话无人接听，店铺大门紧闭"})
			case 3, 4:
				if visit, err = d.eng.Update(d.ctx, d.staff[field], "customer_audit_visit", visit.ID(), visit.Version(), map[string]any{
					"found_by": "barcode", "new_phone": fmt.Sprintf("139%08d", d.r.IntN(1e8)), "new_contact_person": "新店长" + d.pick(demoSurnames...),
				}); err != nil {
					return fmt.Errorf("demo: correct customer: %w", err)
				}
				if visit, err = d.take(field, visit, "customer_audit_visit", "submit_changes", nil); err != nil {
					return err
				}
				if k == 3 {
					err = d.approveChange(visit.ID())
				}
			default:
				visit, err = d.take(field, visit, "customer_audit_visit", "verify", nil)
			}
			if err != nil {
				return err
			}
		}
		d.count("customer_audit_visit", visit)
	}
	return nil
}

// approveChange has the sales manager approve the change request a visit
// opened, which writes the corrections to the customer.
func (d *demoRun) approveChange(visit string) error {
	page, err := d.eng.List(d.ctx, d.staff["manager"], "customer_change_request", records.ListQuery{Filter: fmt.Sprintf("visit == '%s'", visit), Limit: 1})
	if err != nil || len(page.Records) != 1 {
		return fmt.Errorf("demo: change request of visit %s: %d found, %v", visit, len(page.Records), err)
	}
	cr, err := d.take("manager", page.Records[0], "customer_change_request", "approve", map[string]any{"note": "已电话回访确认"})
	if err == nil {
		d.count("customer_change_request", cr)
	}
	return err
}

func decimalOf(n int) decimal.Decimal { return decimal.FromInt(int64(n)) }
