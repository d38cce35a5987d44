package server

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v3"
	"github.com/xuri/excelize/v2"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/reports"
	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// mountReports registers the report routes (when the server has a reports
// engine):
//
//	GET /api/v1/reports                      the reports the caller may run
//	GET /api/v1/reports/:package/:name       run one: ?filters&format=json|csv|xlsx
func mountReports(r fiber.Router, a *api) {
	if a.d.Reports == nil {
		return
	}
	r.Get("/reports", a.reportList)
	r.Get("/reports/:package/:name", a.runReport)
}

// reportMeta describes a report in the caller's language.
func reportMeta(r *template.Report, l string) fiber.Map {
	var filters []fiber.Map
	for _, f := range reports.Filters(r) {
		m := fiber.Map{"name": f.Name, "kind": f.Kind, "type": f.Type, "label": label(f.Label, l), "params": f.Params()}
		if f.To != "" {
			m["to"] = f.To
		}
		if len(f.Options) > 0 {
			var opts []fiber.Map
			for _, o := range f.Options {
				text := label(o.Label, l)
				if text == "" {
					text = o.Value
				}
				opts = append(opts, fiber.Map{"value": o.Value, "label": text})
			}
			m["options"] = opts
		}
		filters = append(filters, m)
	}
	if filters == nil {
		filters = []fiber.Map{}
	}
	if r.Buckets != nil {
		filters = append(filters, fiber.Map{"name": reports.AsOfParam, "kind": "eq", "type": "date",
			"label": label(asOfLabel, l), "params": []string{reports.AsOfParam}})
	}
	return fiber.Map{
		"package": r.Package, "name": r.Name, "label": label(r.Label, l),
		"description": label(r.Decl.Description, l), "source": r.Source,
		"filters": filters, "columns": columnsJSON(reports.Columns(r), l),
	}
}

var asOfLabel = template.Label{Text: map[string]string{"zh-CN": "截止日期", "en": "As of"}}

func columnsJSON(cols []reports.Column, l string) []fiber.Map {
	out := make([]fiber.Map, len(cols))
	for i, c := range cols {
		out[i] = fiber.Map{"name": c.Name, "label": label(c.Label, l), "kind": c.Kind, "type": c.Type}
		if len(c.Options) > 0 {
			opts := fiber.Map{}
			for v, lbl := range c.Options {
				opts[v] = label(lbl, l)
			}
			out[i]["options"] = opts
		}
	}
	return out
}

// reportList answers {"reports": [...]}: what the caller may run.
func (a *api) reportList(c fiber.Ctx) error {
	l := lang(c)
	out := []fiber.Map{}
	for _, r := range a.d.Reports.Available(user(c)) {
		out = append(out, reportMeta(r, l))
	}
	return c.JSON(fiber.Map{"reports": out})
}

// runReport runs a report and answers JSON, CSV or XLSX.
func (a *api) runReport(c fiber.Ctx) error {
	params := c.Queries()
	format := params["format"]
	delete(params, "format")
	switch format {
	case "", "json", "csv", "xlsx":
	default:
		return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "format", Code: "not_an_option"}})
	}
	res, err := a.d.Reports.Run(c.Context(), user(c), c.Params("package"), c.Params("name"), params)
	if err != nil {
		return fail(c, err)
	}
	l := lang(c)
	switch format {
	case "csv":
		return reportCSV(c, res, l)
	case "xlsx":
		return reportXLSX(c, res, l)
	}
	body := fiber.Map{"report": reportMeta(res.Report, l), "columns": columnsJSON(res.Columns, l), "rows": res.Rows}
	if res.AsOf != "" {
		body["as_of"] = res.AsOf
	}
	return c.JSON(body)
}

// cell is what an export shows for a value of column col: a link key's title,
// a select option's or a state's label in language l, numbers exactly as
// computed.
func cell(row store.Doc, col reports.Column, l string) any {
	if t, ok := row[reports.TitleKey(col.Name)]; ok {
		return t
	}
	if s, ok := row[col.Name].(string); ok {
		if lbl, ok := col.Options[s]; ok {
			return label(lbl, l)
		}
	}
	switch v := row[col.Name].(type) {
	case nil:
		return ""
	case decimal.Decimal:
		return v
	case int64:
		return v
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func fileName(res *reports.Result, ext string) string {
	return fmt.Sprintf(`attachment; filename="%s-%s.%s"`, res.Report.Package, res.Report.Name, ext)
}

func reportCSV(c fiber.Ctx, res *reports.Result, l string) error {
	var buf bytes.Buffer
	buf.WriteString("\ufeff") // a BOM, so spreadsheet programs read UTF-8
	w := csv.NewWriter(&buf)
	header := make([]string, len(res.Columns))
	for i, col := range res.Columns {
		header[i] = label(col.Label, l)
	}
	_ = w.Write(header)
	for _, row := range res.Rows {
		rec := make([]string, len(res.Columns))
		for i, col := range res.Columns {
			rec[i] = fmt.Sprint(cell(row, col, l))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fail(c, err)
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, fileName(res, "csv"))
	return c.Send(buf.Bytes())
}

func reportXLSX(c fiber.Ctx, res *reports.Result, l string) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := f.GetSheetName(0)
	for i, col := range res.Columns {
		ref, _ := excelize.CoordinatesToCellName(i+1, 1)
		if err := f.SetCellStr(sheet, ref, label(col.Label, l)); err != nil {
			return fail(c, err)
		}
	}
	for r, row := range res.Rows {
		for i, col := range res.Columns {
			ref, _ := excelize.CoordinatesToCellName(i+1, r+2)
			var err error
			switch v := cell(row, col, l).(type) {
			case decimal.Decimal:
				// The exact decimal text, stored as a number cell.
				err = f.SetCellDefault(sheet, ref, v.String())
			case int64:
				err = f.SetCellDefault(sheet, ref, strconv.FormatInt(v, 10))
			default:
				err = f.SetCellStr(sheet, ref, fmt.Sprint(v))
			}
			if err != nil {
				return fail(c, err)
			}
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return fail(c, err)
	}
	c.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	c.Set(fiber.HeaderContentDisposition, fileName(res, "xlsx"))
	return c.Send(buf.Bytes())
}
