package ui

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/xuri/excelize/v2"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/store"
	tpl "github.com/yerp/yerp/engine/template"
	"github.com/yerp/yerp/server"
)

// The reports pages (issue #8, point 5):
//
//	GET /reports                      the reports the user may run, by package
//	GET /reports/{package}/{name}     filters, chart, table with totals;
//	                                  ?format=csv|xlsx downloads the result
//	GET /dashboard                    a chart of the first charted report of
//	                                  each package the user may run
//
// Every report runs through the report engine, which applies its access
// rules (roles, read scopes, hidden fields); the pages only show its answer.
// The chart is chosen from the report's shape: a month key gives bars by
// period, ageing buckets give stacked bars per group, a single key sorted
// descending by a measure (a ranking) gives horizontal bars; other shapes
// get the table only.

var repTexts = map[string][2]string{
	"rep_reports":        {"报表", "Reports"},
	"rep_dashboard":      {"仪表盘", "Dashboard"},
	"rep_none":           {"您没有可查看的报表", "There are no reports you may run"},
	"rep_run":            {"查询", "Run"},
	"rep_total":          {"合计", "Total"},
	"rep_rows":           {"行", "rows"},
	"rep_download":       {"下载", "Download"},
	"rep_chart":          {"图表", "Chart"},
	"rep_table":          {"明细", "Table"},
	"rep_no_rows":        {"没有符合条件的数据", "No data matches"},
	"rep_as_of":          {"截止日期", "As of"},
	"rep_open":           {"打开报表", "Open the report"},
	"rep_dashboard_none": {"暂无可显示的图表", "No charts to show"},
	"rep_bad_filter":     {"筛选条件有误，请修改后重试：", "Please correct the filters: "},
	"rep_all_reports":    {"全部报表", "All reports"},
	"rep_low_stock":      {"低库存预警", "Low-stock alerts"},
	"rep_item":           {"商品", "Item"},
	"rep_warehouse":      {"仓库", "Warehouse"},
	"rep_available":      {"可用量", "Available"},
	"rep_min_stock":      {"安全库存", "Minimum"},
	"rep_more_low_stock": {"还有 {n} 项，查看报表", "{n} more; open the report"},
	"rep_modules":        {"已安装的模块", "Installed modules"},
	"rep_built_in":       {"系统", "System"},
}

func init() { maps.Copy(texts, repTexts) }

// reportEngine is the server's report engine, or one over the same store
// when the server was started without it; nil without a full store.
func (u *UI) reportEngine() *reports.Engine {
	if u.d.Reports != nil {
		return u.d.Reports
	}
	st, ok := u.d.Store.(store.Store)
	if !ok {
		return nil
	}
	return reports.New(st, u.d.Records, u.d.Packages.Model, nil)
}

// mountReports registers the report pages.
func (u *UI) mountReports(g fiber.Router) error {
	for _, name := range []string{"reports", "report", "report_dashboard"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("ui: %s: %w", name, err)
		}
		u.pages[name] = t
	}
	eng := u.reportEngine()
	if eng == nil {
		return nil
	}
	g.Get("/reports", func(c fiber.Ctx) error { return u.reportIndex(c, eng) })
	g.Get("/reports/:package/:name", func(c fiber.Ctx) error { return u.reportPage(c, eng) })
	g.Get("/dashboard", func(c fiber.Ctx) error { return u.dashboard(c, eng) })
	return nil
}

type repLink struct {
	URL, Label, Description string
}

type repGroup struct {
	Label   string
	Reports []repLink
}

// packageLabel is the label of an installed package.
func (u *UI) packageLabel(name, l string) string {
	if p := u.d.Packages.Model().Packages[name]; p != nil && p.Decl != nil {
		if s := label(p.Decl.Label, l); s != "" {
			return s
		}
	}
	return name
}

func reportURL(r *tpl.Report) string {
	return "/reports/" + url.PathEscape(r.Package) + "/" + url.PathEscape(r.Name)
}

func (u *UI) reportIndex(c fiber.Ctx, eng *reports.Engine) error {
	l := lang(c)
	var groups []repGroup
	for _, r := range eng.Available(engineUser(c)) {
		pl := u.packageLabel(r.Package, l)
		if len(groups) == 0 || groups[len(groups)-1].Label != pl {
			groups = append(groups, repGroup{Label: pl})
		}
		g := &groups[len(groups)-1]
		g.Reports = append(g.Reports, repLink{URL: reportURL(r), Label: label(r.Label, l), Description: label(r.Decl.Description, l)})
	}
	return u.render(c, fiber.StatusOK, "reports", u.newPage(c, t(l, "rep_reports"), groups))
}

// repFilter is one input of a report's filter form.
type repFilter struct {
	ID, Name, Label string
	Input           string // select, link, daterange, numrange, date, text
	Value, To       string
	ToName          string
	Options         []option
	Lookup          string
}

type repColumn struct {
	Name, Label string
	Num         bool
}

type repCell struct {
	Text string
	Num  bool
}

type repData struct {
	Label, Description string
	Action             string
	Filters            []repFilter
	Columns            []repColumn
	Rows               [][]repCell
	Totals             []repCell
	Chart              template.HTML
	CSV, XLSX          string
	AsOf               string
	Error              string
}

// reportParams reads the report's parameters from the query: the filters'
// and as_of; empty ones are left out.
func reportParams(c fiber.Ctx, r *tpl.Report) map[string]string {
	params := map[string]string{}
	var names []string
	for _, f := range reports.Filters(r) {
		names = append(names, f.Params()...)
	}
	if r.Buckets != nil {
		names = append(names, reports.AsOfParam)
	}
	for _, p := range names {
		if v := strings.TrimSpace(c.Query(p)); v != "" {
			params[p] = v
		}
	}
	return params
}

// reportFilters builds the filter form of r with the values in params.
func (u *UI) reportFilters(c fiber.Ctx, r *tpl.Report, params map[string]string, ppl people) ([]repFilter, error) {
	l, usr := lang(c), engineUser(c)
	var out []repFilter
	for _, f := range reports.Filters(r) {
		rf := repFilter{ID: "rf-" + f.Name, Name: f.Name, Label: label(f.Label, l), Value: params[f.Name]}
		if rf.Label == "" {
			rf.Label = f.Name
		}
		switch {
		case f.Kind == "range" && (f.Type == "date" || f.Type == "datetime"):
			rf.Input, rf.Name, rf.ToName = "daterange", f.Name+"_from", f.Name+"_to"
			rf.Value, rf.To = params[rf.Name], params[rf.ToName]
		case f.Kind == "range":
			rf.Input, rf.Name, rf.ToName = "numrange", f.Name+"_from", f.Name+"_to"
			rf.Value, rf.To = params[rf.Name], params[rf.ToName]
		case f.Type == "select":
			rf.Input = "select"
			for _, o := range f.Options {
				text := label(o.Label, l)
				if text == "" {
					text = o.Value
				}
				rf.Options = append(rf.Options, option{Value: o.Value, Label: text, Selected: o.Value == rf.Value})
			}
		case f.Name == "state" && r.Entity != nil:
			rf.Input = "select"
			for _, s := range r.Entity.Decl.States {
				text, _ := stateLabel(r.Entity, s.Key.V, l)
				rf.Options = append(rf.Options, option{Value: s.Key.V, Label: text, Selected: s.Key.V == rf.Value})
			}
		case f.Type == "bool":
			rf.Input = "select"
			rf.Options = []option{{Value: "true", Label: t(l, "yes"), Selected: rf.Value == "true"}, {Value: "false", Label: t(l, "no"), Selected: rf.Value == "false"}}
		case f.Type == "user" || f.Name == "owner":
			rf.Input = "select"
			rf.Options = ppl.options("", rf.Value)
		case f.Type == "link" && f.To != "":
			rf.Input = "link"
			target := u.d.Packages.Model().Entities[f.To]
			if target == nil || !records.Readable(target, usr) {
				rf.Input = "text"
				break
			}
			opts, err := u.linkOptions(c.Context(), usr, &tpl.FieldDecl{To: tpl.Str{V: f.To}}, rf.Value)
			if err != nil {
				return nil, err
			}
			rf.Options = opts
			if r.Entity != nil {
				if fd, ok := r.Entity.Decl.Fields.Get(f.Name); ok && fd != nil && fd.Type.V == "link" {
					rf.Lookup = "/ui/lookup/" + r.Entity.Name + "/" + f.Name
				}
			}
		default:
			rf.Input = "text"
		}
		out = append(out, rf)
	}
	if r.Buckets != nil {
		out = append(out, repFilter{ID: "rf-as_of", Name: reports.AsOfParam, Label: t(l, "rep_as_of"), Input: "date", Value: params[reports.AsOfParam]})
	}
	return out, nil
}

// formatNumber writes a number of a column type exactly: money with at
// least two places (never rounded), counts as integers, with thousands
// separators.
func formatNumber(typ string, d decimal.Decimal) string {
	s := d.String()
	if typ == "money" && d.Round(2).Equal(d) {
		s = d.StringFixed(2)
	}
	return decimal.GroupThousands(s)
}

// numericColumn tells the result columns shown as numbers.
func numericColumn(col reports.Column) bool {
	return col.Kind != "key" && (isNumber(col.Type) || col.Type == "count") || col.Kind == "key" && isNumber(col.Type)
}

// cellText is what the page shows for a value of column col.
func cellText(row store.Doc, col reports.Column, l string, ppl people) string {
	if title, ok := row[reports.TitleKey(col.Name)]; ok {
		return fmt.Sprint(title)
	}
	v := row[col.Name]
	if s, ok := v.(string); ok {
		if lbl, ok := col.Options[s]; ok {
			if text := label(lbl, l); text != "" {
				return text
			}
		}
	}
	switch x := v.(type) {
	case nil:
		return ""
	case decimal.Decimal:
		return formatNumber(col.Type, x)
	case int64:
		return decimal.GroupThousands(strconv.FormatInt(x, 10))
	case int:
		return decimal.GroupThousands(strconv.Itoa(x))
	case float64:
		d, err := decimal.FromFloat(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return formatNumber(col.Type, d)
	case bool:
		if x {
			return t(l, "yes")
		}
		return t(l, "no")
	case string:
		switch col.Type {
		case "user":
			return ppl.name(x)
		case "date":
			if len(x) >= 10 {
				return x[:10]
			}
		case "datetime":
			return shortTime(x)
		}
		return x
	}
	return fmt.Sprint(v)
}

// repMeasureOps maps each measure of r to its op.
func repMeasureOps(r *tpl.Report) map[string]*tpl.ReportMeasure {
	out := map[string]*tpl.ReportMeasure{}
	for i := range r.Measures {
		out[r.Measures[i].Name] = &r.Measures[i]
	}
	return out
}

// totals sums the additive columns of a result (counts, sums, buckets) and
// computes ratios from those totals; other columns stay empty.
func totals(res *reports.Result) (map[string]decimal.Decimal, bool) {
	ops := repMeasureOps(res.Report)
	sums := map[string]decimal.Decimal{}
	any := false
	for _, col := range res.Columns {
		additive := col.Kind == "bucket"
		if me := ops[col.Name]; me != nil && (me.Op == "count" || me.Op == "sum") {
			additive = true
		}
		if !additive {
			continue
		}
		any = true
		sum := decimal.Zero
		for _, row := range res.Rows {
			if d, ok, _ := store.ToDecimal(row[col.Name]); ok {
				sum = sum.Add(d)
			}
		}
		sums[col.Name] = sum
	}
	for _, me := range res.Report.Measures {
		if me.Op != "ratio" {
			continue
		}
		num, ok1 := sums[me.Of]
		den, ok2 := sums[me.Per]
		if ok1 && ok2 && !den.IsZero() {
			if q, err := num.Mul(decimal.FromInt(100)).Div(den, 2); err == nil {
				sums[me.Name] = q
			}
		}
	}
	return sums, any
}

// chartShape is the kind of chart a report gets from its shape, "" for
// none.
func chartShape(r *tpl.Report) chartKind {
	switch {
	case r.Buckets != nil && len(r.Keys) >= 1:
		return chartStacked
	case len(r.Keys) == 1 && r.Keys[0].Month:
		return chartBars
	case len(r.Keys) == 1 && r.Desc && r.Sort != "" && repMeasureOps(r)[r.Sort] != nil:
		return chartHBars
	}
	return ""
}

// chartMeasure is the measure a bar chart shows: the ranking's sort measure,
// else the first money sum, else the first sum, else the first measure.
func chartMeasure(r *tpl.Report) *tpl.ReportMeasure {
	ops := repMeasureOps(r)
	if me := ops[r.Sort]; me != nil && r.Desc {
		return me
	}
	for i, me := range r.Measures {
		if me.Op == "sum" && me.Field != nil && me.Field.Type == "money" {
			return &r.Measures[i]
		}
	}
	for i, me := range r.Measures {
		if me.Op == "sum" {
			return &r.Measures[i]
		}
	}
	if len(r.Measures) > 0 {
		return &r.Measures[0]
	}
	return nil
}

// Bounds of the categories a chart draws (the table has every row).
const (
	maxBarCategories  = 36 // the last 36 periods
	maxHBarCategories = 15
)

// reportChart draws the chart of a result, nil when its shape has none.
func reportChart(res *reports.Result, id, l string, ppl people) *chart {
	r := res.Report
	kind := chartShape(r)
	if kind == "" || len(res.Rows) == 0 {
		return nil
	}
	colByName := map[string]reports.Column{}
	for _, col := range res.Columns {
		colByName[col.Name] = col
	}
	key := colByName[r.Keys[0].Field.Path]
	rows := res.Rows
	switch kind {
	case chartBars:
		if len(rows) > maxBarCategories {
			rows = rows[len(rows)-maxBarCategories:]
		}
	default:
		if len(rows) > maxHBarCategories {
			rows = rows[:maxHBarCategories]
		}
	}
	ch := &chart{ID: id, Kind: kind, Title: label(r.Label, l)}
	for _, row := range rows {
		cat := cellText(row, key, l, ppl)
		if cat == "" {
			cat = "—"
		}
		ch.Categories = append(ch.Categories, cat)
	}
	valuesOf := func(name string) []decimal.Decimal {
		out := make([]decimal.Decimal, len(rows))
		for i, row := range rows {
			out[i], _, _ = store.ToDecimal(row[name])
		}
		return out
	}
	typ := "money"
	if kind == chartStacked {
		names, labels := r.Buckets.Columns()
		for i, n := range names {
			ch.Series = append(ch.Series, chartSeries{Name: label(labels[i], l), Values: valuesOf(n)})
		}
	} else {
		me := chartMeasure(r)
		if me == nil {
			return nil
		}
		col := colByName[me.Name]
		typ = col.Type
		ch.Title += " · " + label(col.Label, l)
		ch.Series = []chartSeries{{Name: label(col.Label, l), Values: valuesOf(me.Name)}}
	}
	ch.Format = func(d decimal.Decimal) string { return formatNumber(typ, d) }
	return ch
}

// filterErrors renders the engine's complaints about report parameters.
func filterErrors(r *tpl.Report, ve *records.ValidationError, l string) string {
	labels := map[string]string{reports.AsOfParam: t(l, "rep_as_of")}
	for _, f := range reports.Filters(r) {
		name := label(f.Label, l)
		ps := f.Params()
		if len(ps) == 2 {
			labels[ps[0]] = name + " " + t(l, "from")
			labels[ps[1]] = name + " " + t(l, "to")
		} else {
			labels[ps[0]] = name
		}
	}
	var parts []string
	for _, fe := range ve.Errors {
		name := labels[fe.Path]
		if name == "" {
			name = fe.Path
		}
		parts = append(parts, name+"："+server.Message(l, fe))
	}
	return t(l, "rep_bad_filter") + strings.Join(parts, "；")
}

func (u *UI) reportPage(c fiber.Ctx, eng *reports.Engine) error {
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	r, err := eng.Find(usr, c.Params("package"), c.Params("name"))
	if err != nil {
		return u.fail(c, err)
	}
	ppl, err := u.people(ctx)
	if err != nil {
		return u.fail(c, err)
	}
	params := reportParams(c, r)
	format := c.Query("format")
	res, err := eng.Run(ctx, usr, r.Package, r.Name, params)
	var ve *records.ValidationError
	if err != nil && !errors.As(err, &ve) {
		return u.fail(c, err)
	}
	if res != nil && (format == "csv" || format == "xlsx") {
		return reportFile(c, res, format, l, ppl)
	}
	data := &repData{Label: label(r.Label, l), Description: label(r.Decl.Description, l), Action: reportURL(r)}
	if data.Filters, err = u.reportFilters(c, r, params, ppl); err != nil {
		return u.fail(c, err)
	}
	status := fiber.StatusOK
	if ve != nil {
		data.Error = filterErrors(r, ve, l)
		status = fiber.StatusUnprocessableEntity
	}
	if res != nil {
		u.fillReport(data, res, l, ppl)
		q := url.Values{}
		for k, v := range params {
			q.Set(k, v)
		}
		q.Set("format", "csv")
		data.CSV = reportURL(r) + "?" + q.Encode()
		q.Set("format", "xlsx")
		data.XLSX = reportURL(r) + "?" + q.Encode()
		if ch := reportChart(res, "chart-"+r.Name, l, ppl); ch != nil {
			data.Chart = ch.SVG()
		}
	}
	return u.render(c, status, "report", u.newPage(c, data.Label, data))
}

// fillReport puts the result's columns, rows and totals in data.
func (u *UI) fillReport(data *repData, res *reports.Result, l string, ppl people) {
	data.AsOf = res.AsOf
	for _, col := range res.Columns {
		name := label(col.Label, l)
		if name == "" {
			name = col.Name
		}
		data.Columns = append(data.Columns, repColumn{Name: col.Name, Label: name, Num: numericColumn(col)})
	}
	for _, row := range res.Rows {
		cells := make([]repCell, len(res.Columns))
		for i, col := range res.Columns {
			cells[i] = repCell{Text: cellText(row, col, l, ppl), Num: numericColumn(col)}
		}
		data.Rows = append(data.Rows, cells)
	}
	sums, ok := totals(res)
	if !ok || len(res.Rows) == 0 {
		return
	}
	data.Totals = make([]repCell, len(res.Columns))
	for i, col := range res.Columns {
		if d, ok := sums[col.Name]; ok {
			typ := col.Type
			if typ == "count" {
				typ = "int"
			}
			data.Totals[i] = repCell{Text: formatNumber(typ, d), Num: true}
		}
	}
	if data.Totals[0].Text == "" {
		data.Totals[0].Text = t(l, "rep_total")
	}
}

// reportFile answers the result as CSV or XLSX: headers and texts in the
// user's language, numbers as exact decimals (number cells in XLSX).
func reportFile(c fiber.Ctx, res *reports.Result, format, l string, ppl people) error {
	header := make([]string, len(res.Columns))
	for i, col := range res.Columns {
		header[i] = label(col.Label, l)
		if header[i] == "" {
			header[i] = col.Name
		}
	}
	// raw is a value for a file: exact numbers without separators.
	raw := func(row store.Doc, col reports.Column) (string, bool) {
		if _, titled := row[reports.TitleKey(col.Name)]; !titled {
			switch v := row[col.Name].(type) {
			case decimal.Decimal:
				return v.String(), true
			case int64:
				return strconv.FormatInt(v, 10), true
			}
		}
		return cellText(row, col, l, ppl), false
	}
	name := fmt.Sprintf("%s-%s-%s.%s", res.Report.Package, res.Report.Name, time.Now().Format("20060102"), format)
	var buf bytes.Buffer
	if format == "csv" {
		buf.WriteString("\ufeff") // spreadsheet programs then read UTF-8
		w := csv.NewWriter(&buf)
		_ = w.Write(header)
		for _, row := range res.Rows {
			rec := make([]string, len(res.Columns))
			for i, col := range res.Columns {
				rec[i], _ = raw(row, col)
			}
			_ = w.Write(rec)
		}
		w.Flush()
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		f := excelize.NewFile()
		defer f.Close()
		sheet := f.GetSheetName(0)
		for i, h := range header {
			ref, _ := excelize.CoordinatesToCellName(i+1, 1)
			_ = f.SetCellStr(sheet, ref, h)
		}
		for ri, row := range res.Rows {
			for i, col := range res.Columns {
				ref, _ := excelize.CoordinatesToCellName(i+1, ri+2)
				v, isNum := raw(row, col)
				var err error
				if isNum {
					err = f.SetCellDefault(sheet, ref, v)
				} else {
					err = f.SetCellStr(sheet, ref, v)
				}
				if err != nil {
					return err
				}
			}
		}
		if err := f.Write(&buf); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(buf.Bytes())
}

// dashCard is one chart of the dashboard.
type dashCard struct {
	Package, Label, URL string
	Chart               template.HTML
	Empty               bool
}

// maxDashboardCharts bounds the reports the dashboard runs.
const maxDashboardCharts = 6

// dashboardCards runs, for each package, the first report of each kind of
// chart (bars by period, ranking, ageing) the user may run, and draws it.
// Nothing is cached: every chart is run as the user, under the engine's
// access rules.
func (u *UI) dashboardCards(c fiber.Ctx, eng *reports.Engine, ppl people) ([]dashCard, error) {
	ctx, usr, l := c.Context(), engineUser(c), lang(c)
	seen := map[string]bool{}
	var out []dashCard
	for _, r := range eng.Available(usr) {
		kind := chartShape(r)
		if kind == "" || seen[r.Package+"/"+string(kind)] {
			continue
		}
		seen[r.Package+"/"+string(kind)] = true
		res, err := eng.Run(ctx, usr, r.Package, r.Name, nil)
		if err != nil {
			return nil, err
		}
		card := dashCard{Package: u.packageLabel(r.Package, l), Label: label(r.Label, l), URL: reportURL(r)}
		if ch := reportChart(res, "dash-"+r.Package+"-"+r.Name, l, ppl); ch != nil {
			card.Chart = ch.SVG()
		} else {
			card.Empty = true
		}
		out = append(out, card)
		if len(out) == maxDashboardCharts {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Empty != out[j].Empty && !out[i].Empty })
	return out, nil
}

func (u *UI) dashboard(c fiber.Ctx, eng *reports.Engine) error {
	ppl, err := u.people(c.Context())
	if err != nil {
		return u.fail(c, err)
	}
	cards, err := u.dashboardCards(c, eng, ppl)
	if err != nil {
		return u.fail(c, err)
	}
	return u.render(c, fiber.StatusOK, "report_dashboard", u.newPage(c, t(lang(c), "rep_dashboard"), cards))
}

// lowStockRow is one bin below its item's minimum, on the home page.
type lowStockRow struct {
	Item, Warehouse recordRef
	Available, Min  string
}

// homeMore is what the home page shows besides the inbox: low-stock alerts
// (to those who may read items, as GET /api/v1/stock/below-minimum) and the
// modules of the installed packages (the navigation, on the page).
type homeMore struct {
	ShowStock bool
	LowStock  []lowStockRow
	MoreStock string // "n more" with the report's link, when cut
	StockURL  string // the below-minimum report, when the user may run it
}

// maxLowStock bounds the alerts the home page lists.
const maxLowStock = 10

// homeExtras reads the home page's low-stock alerts.
func (u *UI) homeExtras(c fiber.Ctx) (*homeMore, error) {
	usr, l := engineUser(c), lang(c)
	more := &homeMore{}
	m := u.d.Packages.Model()
	item := m.Entities["item"]
	if item == nil || !records.Readable(item, usr) {
		return more, nil
	}
	more.ShowStock = true
	bins, err := u.d.Records.Bins(c.Context(), "", "", true)
	if err != nil {
		return nil, err
	}
	if eng := u.reportEngine(); eng != nil {
		for _, r := range eng.Available(usr) {
			if r.Source == tpl.LedgerBins && r.Where == "alerted" {
				more.StockURL = reportURL(r)
				break
			}
		}
	}
	shown := bins
	if len(shown) > maxLowStock {
		shown = shown[:maxLowStock]
		more.MoreStock = strings.ReplaceAll(t(l, "rep_more_low_stock"), "{n}", strconv.Itoa(len(bins)-maxLowStock))
	}
	var items, whs []string
	for _, b := range shown {
		items, whs = append(items, b.Item), append(whs, b.Warehouse)
	}
	itemRefs, err := u.refs(c, "item", items)
	if err != nil {
		return nil, err
	}
	whRefs := map[string]recordRef{}
	if wh := m.Entities["warehouse"]; wh != nil && records.Readable(wh, usr) {
		if whRefs, err = u.refs(c, "warehouse", whs); err != nil {
			return nil, err
		}
	}
	for _, b := range shown {
		row := lowStockRow{Item: itemRefs[b.Item], Warehouse: whRefs[b.Warehouse],
			Available: formatNumber("quantity", b.Available), Min: formatNumber("quantity", b.MinStock)}
		if row.Warehouse.Title == "" {
			row.Warehouse.Title = b.Warehouse
		}
		more.LowStock = append(more.LowStock, row)
	}
	return more, nil
}

// mountReportPages registers the reports, dashboard, import and saved
// filter pages.
func (u *UI) mountReportPages(g fiber.Router) error {
	if err := u.mountReports(g); err != nil {
		return err
	}
	if err := u.mountImports(g); err != nil {
		return err
	}
	u.mountSavedFilters(g)
	return nil
}
