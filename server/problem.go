package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/auth"
	"github.com/yerp/yerp/engine/records"
	"github.com/yerp/yerp/engine/store"
)

// Problem is an error answer (RFC 9457, application/problem+json), with one
// entry per field problem so a form can show each at its field.
type Problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Errors []ProblemField `json:"errors,omitempty"`
	// RequestID is the request's X-Request-ID, to find it in the logs.
	RequestID string `json:"request_id,omitempty"`
}

// ProblemField is one field's problem, with its message in the caller's language.
type ProblemField struct {
	Field   string         `json:"field"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Params  map[string]any `json:"params,omitempty"`
}

// lang picks the language of messages: the first of zh or en that
// Accept-Language names, else the signed-in user's preference, else zh-CN.
func lang(c fiber.Ctx) string {
	al := strings.ToLower(c.Get("Accept-Language"))
	for _, part := range strings.Split(al, ",") {
		tag := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		switch {
		case strings.HasPrefix(tag, "zh"):
			return "zh-CN"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	if s := session(c); s != nil && s.User != nil && s.User.Language == "en" {
		return "en"
	}
	return "zh-CN"
}

// messages are the texts of field error codes: zh-CN and en, with {param}
// placeholders.
var messages = map[string][2]string{
	"required":             {"必填", "is required"},
	"unknown_field":        {"没有这个字段", "is not a field of this record"},
	"readonly":             {"不可修改", "cannot be changed"},
	"not_a_number":         {"必须是数字", "must be a number"},
	"scale":                {"最多 {scale} 位小数", "allows at most {scale} decimal places"},
	"min":                  {"不能小于 {min}", "must be at least {min}"},
	"max":                  {"不能大于 {max}", "must be at most {max}"},
	"out_of_range":         {"数值超出范围", "is out of range"},
	"not_a_bool":           {"必须是是/否", "must be true or false"},
	"not_a_date":           {"日期格式应为 {format}", "must be a date as {format}"},
	"not_a_datetime":       {"时间格式应为 {format}", "must be a date and time as {format}"},
	"not_an_option":        {"不是可选项", "is not one of the options"},
	"not_a_list":           {"必须是列表", "must be a list"},
	"not_an_object":        {"必须是对象", "must be an object"},
	"not_text":             {"必须是文本", "must be text"},
	"single_line":          {"不能换行", "must be a single line"},
	"min_length":           {"至少 {min} 个字符", "must have at least {min} characters"},
	"max_length":           {"最多 {max} 个字符", "must have at most {max} characters"},
	"pattern":              {"格式不正确", "has the wrong format"},
	"not_an_email":         {"不是有效的邮箱", "is not an email address"},
	"not_a_phone":          {"不是有效的电话号码", "is not a phone number"},
	"min_rows":             {"至少 {min} 行", "needs at least {min} rows"},
	"row_locked":           {"第 {row} 行不能删除：其中的 {field} 不可修改", "row {row} cannot be removed: its {field} cannot be changed"},
	"max_rows":             {"最多 {max} 行", "allows at most {max} rows"},
	"link_not_found":       {"关联的记录不存在", "links to a record that does not exist"},
	"link_filtered":        {"不能选择该记录（不符合可选条件，例如已停用）", "this record cannot be chosen here (for example, it is inactive)"},
	"unique":               {"已被其他记录使用", "is already used by another record"},
	"duplicate":            {"与第 {row} 行重复", "repeats row {row}"},
	"use_transition":       {"状态只能通过流转改变", "changes only through a transition"},
	"invalid_filter":       {"筛选条件有误（第 {column} 个字符）：{message}", "is not a valid filter (at character {column}): {message}"},
	"invalid":              {"无效：{message}", "is invalid: {message}"},
	"invalid_json":         {"不是有效的 JSON", "is not valid JSON"},
	"invalid_key":          {"不是有效的字段名", "is not a valid field name"},
	"file_too_large":       {"文件不能超过 {max} 字节", "must be at most {max} bytes"},
	"file_type":            {"不接受 {type} 类型的文件", "does not accept files of type {type}"},
	"file_not_found":       {"文件不存在", "names a file that does not exist"},
	"file_name":            {"文件名不能包含路径（/ 或 \\）或控制字符，且最多 255 个字符", "must be a plain file name of at most 255 characters, without a path (/ or \\) or control characters"},
	"check":                {"{message}", "{message}"},
	"receiver_cannot_read": {"接收人无权查看此记录", "the receiver may not read this record"},
	"unknown_user":         {"用户不存在或已停用", "is not an active user"},
	"wrong_role":           {"该用户没有所需的角色（{role}）", "names a user without the role {role}"},
	"assign_to_nobody":     {"请选择接收人", "needs a receiver"},
	"wrong_password":       {"当前密码不正确", "is not the current password"},
	"weak_password":        {"密码至少 {min} 个字符，且不能与用户名相同", "needs at least {min} characters and must differ from the username"},
	"not_an_attachment":    {"不是附件字段", "is not an attachment field"},
	"insufficient_stock":   {"库存不足：{item} 在 {warehouse} 需要 {asked}，可用 {available}", "Not enough stock: {item} in {warehouse}, asked {asked}, available {available}"},
	"not_found":            {"记录不存在", "names a record that does not exist"},
	"stale_count":          {"{item} 在 {warehouse} 盘点（{counted_at}）后又有出入库（{moved_at}），请重新盘点或确认", "{item} in {warehouse} moved at {moved_at}, after it was counted at {counted_at}; count it again or confirm the count"},
	"key_reused":           {"此幂等键已用于内容不同的请求", "was already used for a request with other content"},
	"key_in_progress":      {"使用此幂等键的请求仍在处理中，请稍后重试", "belongs to a request that is still being applied; try again shortly"},
	"unknown_op":           {"不支持的操作 {op}（可用 create、update、transition）", "is not an operation (create, update or transition): {op}"},
	"bad_ref":              {"引用的操作不在本批次中之前的位置：{ref}", "does not name an earlier operation of this batch: {ref}"},
	"ref_failed":           {"引用的操作 {ref} 未成功", "names operation {ref}, which failed"},
	"too_many_operations":  {"一批最多 {max} 个操作", "allows at most {max} operations per batch"},
}

// message renders a field error in language l.
func message(l string, fe records.FieldError) string {
	if text := fe.RuleMessage(l); text != "" {
		return text
	}
	if m, ok := fe.Params["message"].(map[string]string); ok && (fe.Code == "rule" || fe.Code == "check") {
		for _, text := range m { // the template has it in another language only
			return text
		}
	}
	pair, ok := messages[fe.Code]
	if !ok {
		return fe.Code
	}
	if l == "en" {
		return fe.Fill(pair[1])
	}
	return fe.Fill(pair[0])
}

// titles of problems by status, in both languages.
var titles = map[int][2]string{
	400: {"请求有误", "Bad request"},
	401: {"请先登录", "Not signed in"},
	403: {"没有权限", "Forbidden"},
	404: {"找不到", "Not found"},
	409: {"记录已被他人修改，请刷新后重试", "The record was changed by someone else; reload and try again"},
	412: {"需要 If-Match 版本", "If-Match with the version is required"},
	413: {"请求太大", "Request too large"},
	422: {"填写有误", "Some fields need attention"},
	428: {"需要 If-Match 版本", "If-Match with the version is required"},
	429: {"尝试次数过多，请稍后再试", "Too many attempts; try again later"},
	500: {"服务器出错", "Server error"},
	503: {"数据存储暂不可用，请稍后重试", "The data store is unavailable; try again shortly"},
	507: {"存储空间已满，未保存任何内容：请释放服务器磁盘空间或联系管理员后重试", "The disk is full and nothing was saved: free disk space on the server or ask your administrator, then try again"},
}

// storeRetryAfter is the Retry-After (seconds) of a 503 for a store that
// does not answer: about the time a replica set takes to elect a primary.
const storeRetryAfter = "5"

// FaultStatus is the status of a store fault no client can fix: 503 for a
// store that does not answer (store.ErrUnavailable), 507 for a full one
// (store.ErrFull); 0 for any other error.
func FaultStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return fiber.StatusServiceUnavailable
	case errors.Is(err, store.ErrFull):
		return fiber.StatusInsufficientStorage
	}
	return 0
}

// storeFault answers a store fault (see FaultStatus), logged once here
// because the cause is the operator's to see; ok is false for other errors.
func storeFault(c fiber.Ctx, err error) (bool, error) {
	status := FaultStatus(err)
	if status == 0 {
		return false, nil
	}
	logError(c, err)
	if status == fiber.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, storeRetryAfter)
	}
	return true, problem(c, status, "", nil)
}

// problem writes an error answer.
func problem(c fiber.Ctx, status int, detail string, fields []records.FieldError) error {
	p := newProblem(lang(c), status, detail, fields)
	p.RequestID = RequestID(c)
	c.Set(fiber.HeaderContentType, "application/problem+json; charset=utf-8")
	return c.Status(status).JSON(p, "application/problem+json; charset=utf-8")
}

// newProblem is an error answer in language l.
func newProblem(l string, status int, detail string, fields []records.FieldError) Problem {
	t := titles[status]
	title := t[0]
	if l == "en" {
		title = t[1]
	}
	p := Problem{Type: "about:blank", Title: title, Status: status, Detail: detail}
	for _, fe := range fields {
		p.Errors = append(p.Errors, ProblemField{Field: fe.Path, Code: fe.Code, Message: message(l, fe), Params: fe.Params})
	}
	return p
}

// fail maps an engine error to its problem answer.
func fail(c fiber.Ctx, err error) error {
	var rl *auth.RateLimitError
	switch {
	case errors.As(err, &rl):
		c.Set(fiber.HeaderRetryAfter, fmt.Sprint(int(rl.RetryAfter.Seconds())+1))
		return problem(c, fiber.StatusTooManyRequests, "", nil)
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrUnauthenticated):
		return problem(c, fiber.StatusUnauthorized, "", nil)
	}
	if ok, perr := storeFault(c, err); ok {
		return perr
	}
	if status, detail, fields, ok := classify(err); ok {
		if errors.Is(err, records.ErrInProgress) {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return problem(c, status, detail, fields)
	}
	return err // logged by the error handler; the client gets a 500 problem
}

// classify gives the status, detail and field problems of an engine error;
// ok is false for an error no client can act on (a 500).
func classify(err error) (status int, detail string, fields []records.FieldError, ok bool) {
	var ve *records.ValidationError
	switch {
	case FaultStatus(err) != 0: // before the others: a fault may wrap any of them
		return FaultStatus(err), "", nil, true
	case errors.As(err, &ve):
		return fiber.StatusUnprocessableEntity, "", ve.Errors, true
	case errors.Is(err, records.ErrNotFound):
		return fiber.StatusNotFound, "", nil, true
	case errors.Is(err, records.ErrForbidden):
		return fiber.StatusForbidden, strings.TrimPrefix(err.Error(), "records: forbidden: "), nil, true
	case errors.Is(err, records.ErrInProgress):
		return fiber.StatusConflict, "", []records.FieldError{{Path: "key", Code: "key_in_progress"}}, true
	case errors.Is(err, records.ErrConflict):
		return fiber.StatusConflict, "", nil, true
	case errors.Is(err, records.ErrNotAvailable), errors.Is(err, records.ErrNeedsApproval), errors.Is(err, records.ErrApprovalPending):
		return fiber.StatusConflict, strings.TrimPrefix(err.Error(), "records: "), nil, true
	case errors.Is(err, store.ErrInvalid):
		return fiber.StatusBadRequest, err.Error(), nil, true
	}
	return 0, "", nil, false
}

// errorHandler answers every unhandled error as a problem.
func errorHandler(c fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status := fe.Code
		if _, ok := titles[status]; !ok {
			return c.Status(status).JSON(Problem{Type: "about:blank", Title: fe.Message, Status: status, RequestID: RequestID(c)})
		}
		return problem(c, status, fe.Message, nil)
	}
	if ok, perr := storeFault(c, err); ok {
		return perr
	}
	logError(c, err)
	return problem(c, fiber.StatusInternalServerError, "", nil)
}
