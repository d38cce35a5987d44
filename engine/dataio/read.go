package dataio

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// sheet is a file read into memory: the header and the data rows, as text.
type sheet struct {
	header []string
	rows   [][]string // data rows; rows[i] is file row i+2
	// date1904 is the XLSX workbook's date system (serial dates count from
	// 1904 instead of 1900).
	date1904 bool
	xlsx     bool
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// readSheet reads a CSV or XLSX file.
func readSheet(r io.Reader, format Format, sheetName string) (*sheet, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("dataio: read: %w", err)
	}
	if format == "" {
		format = CSV
		if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
			format = XLSX
		}
	}
	var sh *sheet
	if format == XLSX {
		sh, err = readXLSX(data, sheetName)
	} else {
		sh, err = readCSV(data)
	}
	if err != nil {
		return nil, err
	}
	if len(sh.header) == 0 {
		return nil, &FileError{Problems: []RowError{{Code: "no_header"}}}
	}
	return sh, nil
}

// readCSV reads UTF-8 (with or without a byte-order mark) or, when the bytes
// are not valid UTF-8, GB18030 (a superset of GBK, what Excel writes in
// China). The delimiter is a comma, or a tab or semicolon when the header
// has those and no comma.
func readCSV(data []byte) (*sheet, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if !utf8.Valid(data) {
		dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		if err != nil {
			return nil, badFile(fmt.Errorf("neither UTF-8 nor GBK: %w", err))
		}
		data = dec
	}
	first := data
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		first = data[:i]
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	if !bytes.ContainsRune(first, ',') {
		switch {
		case bytes.ContainsRune(first, '\t'):
			cr.Comma = '\t'
		case bytes.ContainsRune(first, ';'):
			cr.Comma = ';'
		}
	}
	all, err := cr.ReadAll()
	if err != nil {
		return nil, badFile(err)
	}
	return split(all), nil
}

// MaxXLSXUnzipped bounds what an XLSX file may unpack to, all its parts
// together: excelize's own bound is 16 GB (written to temporary files), so
// a few megabytes of zip bomb could fill the disk. An honest workbook that
// fits the upload limit unpacks to far less.
const MaxXLSXUnzipped = 200 << 20

// readXLSX reads the named sheet, or the first, with raw cell values (numbers
// as stored, dates as serial numbers: formatting is the reader's business).
func readXLSX(data []byte, name string) (*sheet, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: MaxXLSXUnzipped, UnzipXMLSizeLimit: 16 << 20})
	if err != nil {
		return nil, badFile(err)
	}
	defer f.Close()
	list := f.GetSheetList()
	if name == "" {
		if len(list) == 0 {
			return nil, &FileError{Problems: []RowError{{Code: "no_header"}}}
		}
		name = list[0]
	} else if !slices.Contains(list, name) {
		return nil, &FileError{Problems: []RowError{{Code: "no_sheet", Params: map[string]any{"sheet": name}}}}
	}
	rows, err := f.Rows(name)
	if err != nil {
		return nil, badFile(err)
	}
	defer rows.Close()
	var all [][]string
	for rows.Next() {
		cols, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, badFile(err)
		}
		all = append(all, cols)
	}
	if err := rows.Error(); err != nil {
		return nil, badFile(err)
	}
	sh := split(all)
	sh.xlsx = true
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		sh.date1904 = *props.Date1904
	}
	return sh, nil
}

// split takes the first non-empty row as the header and drops trailing empty
// rows (spreadsheets keep formatted but empty rows).
func split(all [][]string) *sheet {
	sh := &sheet{}
	for len(all) > 0 && blank(all[len(all)-1]) {
		all = all[:len(all)-1]
	}
	if len(all) == 0 {
		return sh
	}
	sh.header, sh.rows = all[0], all[1:]
	return sh
}

func blank(row []string) bool {
	for _, c := range row {
		if c != "" && !isSpace(c) {
			return false
		}
	}
	return true
}

func isSpace(s string) bool {
	for _, r := range s {
		if r != ' ' && r != '\t' && r != '\u3000' && r != '\r' && r != '\n' {
			return false
		}
	}
	return true
}

func badFile(err error) error {
	var pe *csv.ParseError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = fmt.Sprintf("line %d: %v", pe.Line, pe.Err)
	}
	return &FileError{Problems: []RowError{{Code: "bad_file", Params: map[string]any{"message": msg}}}}
}
