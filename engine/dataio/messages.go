package dataio

import (
	"github.com/yerp/yerp/engine/records"
)

// Messages are the zh-CN and en texts of the problem codes this package
// reports itself, with {param} placeholders. The server adds them to its own
// catalog.
var Messages = map[string][2]string{
	"unknown_column":    {"没有与列名“{column}”对应的字段", "no field matches the column “{column}”"},
	"ambiguous_column":  {"列名“{column}”可对应多个字段，请改用字段名", "the column “{column}” could be several fields; use the field name"},
	"duplicate_column":  {"列“{column}”与另一列对应同一个字段 {field}", "the column “{column}” names the same field ({field}) as another column"},
	"hidden_column":     {"无权填写列“{column}”", "you may not write the column “{column}”"},
	"no_header":         {"文件没有标题行", "the file has no header row"},
	"no_rows":           {"文件没有数据行", "the file has no data rows"},
	"bad_file":          {"无法读取文件：{message}", "cannot read the file: {message}"},
	"no_sheet":          {"没有名为“{sheet}”的工作表", "there is no sheet named “{sheet}”"},
	"no_entity":         {"没有这种记录类型", "there is no such kind of record"},
	"conflict_value":    {"同一记录的各行填写了不同的值：“{first}”与“{other}”", "rows of the same record give different values: “{first}” and “{other}”"},
	"orphan_row":        {"这一行没有编码，也不在某条记录之后", "this row has no key and follows no record"},
	"changed_meanwhile": {"导入时记录被他人修改，请重新导入", "the record was changed by someone else during the import; import again"},
	"forbidden":         {"没有权限：{message}", "not allowed: {message}"},
	"not_found":         {"记录不存在", "names a record that does not exist"},
	"failed":            {"无法保存：{message}", "could not be saved: {message}"},
}

// render gives the message of fe in language l: the package's own codes
// first, then msg (the caller's catalog), then the code itself.
func render(l string, fe records.FieldError, msg func(string, records.FieldError) string) string {
	if pair, ok := Messages[fe.Code]; ok {
		if l == "en" {
			return fe.Fill(pair[1])
		}
		return fe.Fill(pair[0])
	}
	if msg != nil {
		return msg(l, fe)
	}
	if text := fe.RuleMessage(l); text != "" {
		return text
	}
	return fe.Code
}
