package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// The report scenario's data set: orders of 10 lines of 500 customers over
// 24 months, nine in ten shipped or later (what the sales reports count).
const (
	reportCustomers = 500
	reportMonths    = 24
)

// benchReports are the catalog's sales reports the scenario runs: sales by
// customer by month (the report), by customer, by month, and by item
// over every line.
var benchReports = []string{"sales_by_customer_month", "sales_by_customer", "sales_by_month", "sales_by_item"}

// reportSet is the report scenario's data set and the answers expected.
type reportSet struct {
	manager benchUser
	orders  int // counted by the reports (shipped or later)
	// customers is how many customers have orders: each takes 10 orders in
	// turn, one of them confirmed only.
	customers int
	qty       decimal.Decimal
}

// buildReport writes lines/10 orders of 10 lines (copies of one order the
// engine created, each with its own customer, number, order date and state)
// and reportCustomers customers, unless the cached store holds them already.
func (b *benchSite) buildReport(ctx context.Context, lines int) (*reportSet, error) {
	n := lines / 10
	mgr, tok, err := b.userWith(ctx, "manager", []string{"sales_manager"})
	if err != nil {
		return nil, err
	}
	set := &reportSet{manager: benchUser{mgr, tok}, customers: min(reportCustomers, (n+9)/10)}
	if meta := b.meta(ctx); meta != nil {
		orders, _ := toDecimal(meta["orders"])
		set.qty, _ = toDecimal(meta["qty"])
		o, _ := orders.Int64()
		set.orders = int(o)
		return set, nil
	}
	start := time.Now()
	seller, _, err := b.seller(ctx, "sales000")
	if err != nil {
		return nil, err
	}
	// Customers: copies of the site's customer.
	ctmpl, err := b.st.Get(ctx, "customer", b.customer)
	if err != nil {
		return nil, err
	}
	customers := []string{b.customer}
	var docs []store.Doc
	for i := 1; i < reportCustomers; i++ {
		c := maps.Clone(ctmpl)
		c[store.IDField], c["code"], c["name"] = uuid.NewString(), fmt.Sprintf("RC%04d", i), fmt.Sprintf("报表客户 %d", i)
		customers = append(customers, c.ID())
		docs = append(docs, c)
	}
	if _, err := b.st.InsertMany(ctx, "customer", docs); err != nil {
		return nil, err
	}
	rec, err := b.eng.Create(ctx, seller, "sales_order", b.order("report"))
	if err != nil {
		return nil, err
	}
	tmpl, err := b.st.Get(ctx, "sales_order", rec.ID())
	if err != nil {
		return nil, err
	}
	if err := b.st.Delete(ctx, "sales_order", rec.ID(), tmpl.Version()); err != nil {
		return nil, err // the data set holds copies only: the sums are known
	}
	var lineQty decimal.Decimal
	for _, l := range tmpl["lines"].([]any) {
		q, _ := toDecimal(l.(map[string]any)["qty"])
		lineQty = lineQty.Add(q)
	}
	states := [10]string{"shipped", "invoiced", "settled", "completed", "shipped", "invoiced", "completed", "completed", "shipped", "confirmed"}
	first := time.Date(time.Now().Year()-2, time.Now().Month(), 1, 9, 0, 0, 0, time.UTC)
	batch := make([]store.Doc, 0, 2000)
	for i := range n {
		doc := maps.Clone(tmpl)
		doc[store.IDField] = uuid.NewString()
		doc["number"] = fmt.Sprintf("R-%09d", i)
		doc["customer"] = customers[(i/len(states))%len(customers)]
		doc["state"] = states[i%len(states)]
		if doc["state"] != "confirmed" {
			set.orders++
			set.qty = set.qty.Add(lineQty)
		}
		at := first.AddDate(0, (i/7)%reportMonths, (i/3)%28).Add(time.Duration(i%600) * time.Second)
		doc["order_date"] = at.Format(template.DateLayout)
		doc["created_at"] = at.Format(template.DateTimeLayout)
		doc["updated_at"] = doc["created_at"]
		if batch = append(batch, doc); len(batch) == cap(batch) || i == n-1 {
			if _, err := b.st.InsertMany(ctx, "sales_order", batch); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	if err := b.st.Optimize(ctx); err != nil {
		return nil, err
	}
	if err := b.done(ctx, store.Doc{"orders": set.orders, "qty": set.qty.String()}); err != nil {
		return nil, err
	}
	benchLog("report: %d orders of 10 lines built in %s", n, time.Since(start).Round(time.Second))
	return set, nil
}

// report has a sales manager run the catalog's sales reports over HTTP
// (GET /api/v1/reports/sales/{name}), one request at a time, and checks the
// answers against the data set; the floor of each is the store Aggregate the
// report engine issued for it, run on the raw store.
func (b *benchSite) report(ctx context.Context, lines int, d time.Duration) ([]benchResult, error) {
	if b.rptSet == nil {
		set, err := b.buildReport(ctx, lines)
		if err != nil {
			return nil, err
		}
		b.rptSet = set
	}
	set := b.rptSet
	var out []benchResult
	each := d / time.Duration(len(benchReports))
	for _, name := range benchReports {
		endpoint := b.base + "/api/v1/reports/sales/" + name
		var res struct {
			Rows []map[string]json.RawMessage `json:"rows"`
		}
		if err := b.request("GET", endpoint, set.manager.token, nil, http.StatusOK, &res); err != nil {
			return nil, err
		}
		if err := checkReport(name, res.Rows, set); err != nil {
			return nil, err
		}
		coll, agg := b.floorAgg.last()
		lat, errs, took, ferr := runLoad(ctx, 1, each, func(int64) error {
			return b.request("GET", endpoint, set.manager.token, nil, http.StatusOK, nil)
		})
		if errs > 0 {
			return nil, fmt.Errorf("%d %s requests failed, the first: %w", errs, name, ferr)
		}
		viaHTTP := summarize(fmt.Sprintf("report (HTTP, %s)", name), 1, lat, errs, took)
		lat, errs, took, ferr = runLoad(ctx, 1, each, func(int64) error {
			rows, err := b.st.Aggregate(ctx, coll, agg)
			if err == nil && len(rows) != len(res.Rows) {
				err = fmt.Errorf("the raw aggregation gave %d rows, the report %d", len(rows), len(res.Rows))
			}
			return err
		})
		if errs > 0 {
			return nil, fmt.Errorf("%d raw aggregations failed, the first: %w", errs, ferr)
		}
		raw := summarize(fmt.Sprintf("report (raw aggregate, %s)", name), 1, lat, errs, took)
		if raw.PerSecond > 0 && viaHTTP.PerSecond > 0 {
			viaHTTP.Floor, viaHTTP.Ratio = raw.Name, raw.PerSecond/viaHTTP.PerSecond
		}
		viaHTTP.Note = fmt.Sprintf("%d rows over %d order lines", len(res.Rows), lines/10*10)
		out = append(out, viaHTTP, raw)
	}
	return out, nil
}

// checkReport checks a report's answer against what the data set holds: every
// counted order once (by customer, by month), every line's quantity (by item).
func checkReport(name string, rows []map[string]json.RawMessage, set *reportSet) error {
	var orders int64
	var qty decimal.Decimal
	for _, r := range rows {
		if v, ok := r["orders"]; ok {
			var n int64
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("%s: orders %s: %w", name, v, err)
			}
			orders += n
		}
		if v, ok := r["qty"]; ok {
			var s any
			_ = json.Unmarshal(v, &s)
			q, ok := toDecimal(s)
			if !ok {
				return fmt.Errorf("%s: qty %s", name, v)
			}
			qty = qty.Add(q)
		}
	}
	switch {
	case name == "sales_by_item" && !qty.Equal(set.qty):
		return fmt.Errorf("%s: quantities add up to %s, the data set holds %s", name, qty, set.qty)
	case name == "sales_by_customer" && (len(rows) != set.customers || orders != int64(set.orders)),
		name == "sales_by_month" && (len(rows) > reportMonths+1 || orders != int64(set.orders)),
		name == "sales_by_customer_month" && (len(rows) < set.customers || len(rows) > set.customers*(reportMonths+1) || orders != int64(set.orders)):
		return fmt.Errorf("%s: %d rows counting %d orders, the data set holds %d orders", name, len(rows), orders, set.orders)
	}
	return nil
}

// toDecimal reads a stored or answered number (decimal text, float, int).
func toDecimal(v any) (decimal.Decimal, bool) {
	switch x := v.(type) {
	case string:
		d, err := decimal.Parse(x)
		return d, err == nil
	case float64:
		d, err := decimal.Parse(fmt.Sprint(x))
		return d, err == nil
	case int64:
		return decimal.FromInt(x), true
	case int:
		return decimal.FromInt(int64(x)), true
	case decimal.Decimal:
		return x, true
	}
	return decimal.Decimal{}, false
}
