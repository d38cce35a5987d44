package records

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/yerp/yerp/engine/store"
	"github.com/yerp/yerp/engine/template"
)

// Files of attachment fields are kept in the store, in chunks, so that every
// server process sees them and a backup of the store holds them too.
const (
	filesColl  = "sys_files"
	chunksColl = "sys_file_chunks"
	chunkSize  = 256 << 10
	// DefaultMaxFile is the size limit of a file when the field sets none.
	DefaultMaxFile = 10 << 20
)

// FileInfo describes a stored file.
type FileInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// Upload stores a file for attachment field field of entity. The user must be
// allowed to create or update records of the entity and to write the field;
// the size must be within the field's max_size, and the content type, sniffed
// from the bytes (not taken from the client), must be one the field accepts.
// The returned id is what the record's field then holds.
func (e *Engine) Upload(ctx context.Context, u User, entity, field, name string, r io.Reader) (FileInfo, error) {
	_, ent, err := e.entity(entity)
	if err != nil {
		return FileInfo{}, err
	}
	f, ok := ent.Decl.Fields.Get(field)
	if !ok || f == nil || f.Type.V != "attachment" {
		return FileInfo{}, &ValidationError{Errors: []FieldError{{Path: field, Code: "not_an_attachment"}}}
	}
	if !u.IsAdmin() && !e.mayCreate(ent, u) && !e.mayUpdate(ent, u) {
		return FileInfo{}, forbidden("attach files to", entity)
	}
	ev := e.evaluator(ctx, ent, u)
	if fa, err := ev.fields("create", Record{fOwner: u.ID}); err != nil {
		return FileInfo{}, err
	} else if fa.readonly[field] && !e.mayUpdate(ent, u) {
		return FileInfo{}, forbidden("attach files to", entity)
	}
	if !plainFileName(name) {
		return FileInfo{}, &ValidationError{Errors: []FieldError{{Path: field, Code: "file_name"}}}
	}
	limit := int64(DefaultMaxFile)
	if f.MaxSize != nil {
		limit = *f.MaxSize
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return FileInfo{}, fmt.Errorf("records: upload: %w", err)
	}
	if int64(len(data)) > limit {
		return FileInfo{}, &ValidationError{Errors: []FieldError{{Path: field, Code: "file_too_large", Params: map[string]any{"max": limit}}}}
	}
	ctype := sniff(name, data)
	if !accepted(f, ctype) {
		return FileInfo{}, &ValidationError{Errors: []FieldError{{Path: field, Code: "file_type", Params: map[string]any{"type": ctype, "accept": acceptList(f)}}}}
	}
	sum := sha256.Sum256(data)
	info := FileInfo{ID: store.NewID(), Name: cleanName(name), ContentType: ctype, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	// Chunks first, the file document last: a file is visible only when whole.
	n := 0
	for off := 0; off < len(data) || n == 0; off += chunkSize {
		end := min(off+chunkSize, len(data))
		_, err := e.st.Insert(ctx, chunksColl, store.Doc{store.IDField: fmt.Sprintf("%s:%d", info.ID, n), "file": info.ID, "n": n,
			"data": base64.StdEncoding.EncodeToString(data[off:end])})
		if err != nil {
			return FileInfo{}, fmt.Errorf("records: upload: %w", err)
		}
		n++
		if end == len(data) {
			break
		}
	}
	_, err = e.st.Insert(ctx, filesColl, store.Doc{store.IDField: info.ID, "name": info.Name, "content_type": ctype, "size": info.Size,
		"sha256": info.SHA256, "chunks": n, "entity": entity, "field": field, "uploaded_by": u.ID, "uploaded_at": e.stamp()})
	if err != nil {
		return FileInfo{}, fmt.Errorf("records: upload: %w", err)
	}
	return info, nil
}

// mayUpdate reports whether one of the user's roles has any update rule.
func (e *Engine) mayUpdate(ent *template.Entity, u User) bool {
	for _, role := range u.Roles {
		if acc, ok := ent.Decl.Access.Get(role); ok && acc != nil && acc.Update != nil && (acc.Update.Const == nil || *acc.Update.Const) {
			return true
		}
	}
	return false
}

// sniff determines the content type from the bytes; the file name only
// refines a generic answer (text, zip containers).
func sniff(name string, data []byte) string {
	ct := http.DetectContentType(data)
	base := strings.TrimSpace(strings.SplitN(ct, ";", 2)[0])
	if byExt := mime.TypeByExtension(strings.ToLower(path.Ext(name))); byExt != "" {
		ext := strings.SplitN(byExt, ";", 2)[0]
		switch {
		case base == "application/zip" && strings.HasPrefix(ext, "application/vnd.openxmlformats"):
			return ext // xlsx, docx are zip containers
		case base == "text/plain" && (ext == "text/csv" || ext == "application/json"):
			return ext
		}
	}
	return base
}

func acceptList(f *template.FieldDecl) []string {
	out := make([]string, len(f.Accept))
	for i, a := range f.Accept {
		out[i] = a.V
	}
	return out
}

// accepted checks a content type against the field's accept list ("image/*",
// "application/pdf"); without a list, anything but executables is accepted.
func accepted(f *template.FieldDecl, ctype string) bool {
	if len(f.Accept) == 0 {
		return ctype != "application/x-msdownload" && ctype != "application/x-executable"
	}
	return slices.ContainsFunc(f.Accept, func(a template.Str) bool {
		if prefix, ok := strings.CutSuffix(a.V, "/*"); ok {
			return strings.HasPrefix(ctype, prefix+"/")
		}
		return a.V == ctype
	})
}

// MaxFileNameLength is the longest name of an uploaded file, in characters.
const MaxFileNameLength = 255

// plainFileName reports whether name is a file name a client may give an
// upload: valid UTF-8, at most MaxFileNameLength characters, no path (no /
// or \, not . or ..) and no control characters (NUL included). A name that
// tries to climb out of a folder is refused, not silently cut to its base:
// files live in the store, never on disk, but a name is shown and offered
// back as a download name, and it should be what the client meant. An empty
// name is allowed (the file is called "file").
func plainFileName(name string) bool {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxFileNameLength || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' || r == '\\' })
}

// cleanName keeps the base name of an uploaded file, without path or controls.
func cleanName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "." || name == "/" || name == "" {
		return "file"
	}
	return name
}

// fileInfo reads a file's description.
func (e *Engine) fileInfo(ctx context.Context, id string) (store.Doc, error) {
	d, err := e.st.Get(ctx, filesColl, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: file %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("records: file %s: %w", id, err)
	}
	return d, nil
}

// checkFile accepts an attachment value that names a file uploaded for this
// entity and field by this user, or the file the record already holds.
func (ev *evaluator) checkFile(ve *ValidationError, path, field string, v, current any) error {
	id, ok := v.(string)
	if !ok || id == "" || id == current {
		return nil
	}
	d, err := ev.e.fileInfo(ev.ctx, id)
	if errors.Is(err, ErrNotFound) {
		ve.add(path, "file_not_found", nil)
		return nil
	}
	if err != nil {
		return err
	}
	if d["entity"] != ev.ent.Name || d["field"] != field || (d["uploaded_by"] != ev.user.ID && !ev.user.IsAdmin()) {
		ve.add(path, "file_not_found", nil)
	}
	return nil
}

// Download returns the file in attachment field field of a record the user
// may read (and whose field the user may see), and writes its bytes to w.
func (e *Engine) Download(ctx context.Context, u User, entity, id, field string, w io.Writer) (FileInfo, error) {
	rec, err := e.Get(ctx, u, entity, id)
	if err != nil {
		return FileInfo{}, err
	}
	fileID, _ := rec[field].(string)
	if fileID == "" {
		return FileInfo{}, fmt.Errorf("%w: %s %s has no file in %s", ErrNotFound, entity, id, field)
	}
	d, err := e.fileInfo(ctx, fileID)
	if err != nil {
		return FileInfo{}, err
	}
	info := FileInfo{ID: fileID}
	info.Name, _ = d["name"].(string)
	info.ContentType, _ = d["content_type"].(string)
	info.SHA256, _ = d["sha256"].(string)
	size, _ := toDecimal(d["size"])
	info.Size, _ = size.Int64()
	chunks, _ := toDecimal(d["chunks"])
	n, _ := chunks.Int64()
	var buf bytes.Buffer
	for i := int64(0); i < n; i++ {
		c, err := e.st.Get(ctx, chunksColl, fmt.Sprintf("%s:%d", fileID, i))
		if err != nil {
			return FileInfo{}, fmt.Errorf("records: file %s chunk %d: %w", fileID, i, err)
		}
		data, err := base64.StdEncoding.DecodeString(c["data"].(string))
		if err != nil {
			return FileInfo{}, fmt.Errorf("records: file %s chunk %d: %w", fileID, i, err)
		}
		buf.Write(data)
	}
	sum := sha256.Sum256(buf.Bytes())
	if hex.EncodeToString(sum[:]) != info.SHA256 {
		return FileInfo{}, fmt.Errorf("records: file %s is damaged (checksum)", fileID)
	}
	_, err = w.Write(buf.Bytes())
	return info, err
}
