package sqlite

import (
	"math"
	"strings"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/store"
)

// sqlBuf accumulates SQL text and its bound parameters. Paths are validated
// identifiers (store.CheckPath), so they are written into the text; every value
// is a parameter.
type sqlBuf struct {
	strings.Builder
	args []any
}

func (b *sqlBuf) arg(v any) {
	b.WriteByte('?')
	b.args = append(b.args, v)
}

// jsonExpr is the SQL expression of a path that does not cross arrays. It is the
// exact text of the expression indexes, so that SQLite uses them.
func jsonExpr(path string) string {
	if path == store.IDField {
		return "id"
	}
	return "json_extract(doc,'$." + path + "')"
}

// where writes the SQL condition of a checked filter.
func (b *sqlBuf) where(ci *collInfo, f store.Filter) {
	switch n := f.(type) {
	case nil:
		b.WriteString("1")
	case *store.Logic:
		switch n.Op {
		case store.OpNot:
			// NOT of SQL NULL is NULL: coalesce keeps negations of missing fields true.
			b.WriteString("NOT coalesce(")
			b.where(ci, n.Args[0])
			b.WriteString(",0)")
		default:
			if len(n.Args) == 0 {
				if n.Op == store.OpAnd {
					b.WriteString("1")
				} else {
					b.WriteString("0")
				}
				return
			}
			b.WriteByte('(')
			for i, a := range n.Args {
				if i > 0 {
					b.WriteString(" " + strings.ToUpper(string(n.Op)) + " ")
				}
				b.where(ci, a)
			}
			b.WriteByte(')')
		}
	case *store.Field:
		b.field(ci, n)
	}
}

func (b *sqlBuf) field(ci *collInfo, n *store.Field) {
	switch n.Op {
	case store.OpNe:
		b.where(ci, store.Not(&store.Field{Path: n.Path, Op: store.OpEq, Value: n.Value}))
		return
	case store.OpNin:
		b.where(ci, store.Not(&store.Field{Path: n.Path, Op: store.OpIn, Value: n.Value}))
		return
	}
	if !store.IsNested(n.Path) {
		if n.Op == store.OpExists {
			if n.Path == store.IDField {
				b.WriteString(map[bool]string{true: "1", false: "0"}[n.Value.(bool)])
				return
			}
			b.WriteString("json_type(doc,'$." + n.Path + "') IS ")
			if n.Value.(bool) {
				b.WriteString("NOT ")
			}
			b.WriteString("NULL")
			return
		}
		if n.Op == store.OpEq && n.Value == nil {
			b.WriteString(jsonExpr(n.Path) + " IS NULL")
			return
		}
		b.compare(jsonExpr(n.Path), "json_type(doc,'$."+n.Path+"')", n, sqlValue)
		return
	}
	if side, ok := ci.side[n.Path]; ok && n.Op != store.OpExists {
		b.WriteString("rid IN (SELECT rid FROM " + side + " WHERE ")
		b.compare("v", "", n, sideValue)
		b.WriteString(")")
		return
	}
	// Unindexed nested path: search the leaves under its first segment.
	first := n.Path[:strings.IndexByte(n.Path, '.')]
	if n.Op == store.OpExists && !n.Value.(bool) {
		b.WriteString("NOT ")
	}
	b.WriteString("EXISTS (SELECT 1 FROM json_tree(doc,'$." + first + "') AS t WHERE yerp_path(t.fullkey)='$." + n.Path + "'")
	if n.Op != store.OpExists {
		b.WriteString(" AND t.type NOT IN ('object','array') AND ")
		b.compare("t.atom", "t.type", n, sqlValue)
	}
	b.WriteString(")")
}

// compare writes the condition of one Eq/In/range/Prefix node over the scalar
// SQL expression e. typ is an expression giving the JSON type of e ("" when e
// is a side-table value, where booleans are stored as blobs). conv binds values.
func (b *sqlBuf) compare(e, typ string, n *store.Field, conv func(any) any) {
	switch n.Op {
	case store.OpEq:
		b.eq(e, typ, n.Value, conv)
	case store.OpIn:
		vs := n.Value.([]any)
		if len(vs) == 0 {
			b.WriteString("0")
			return
		}
		b.WriteString("(")
		plain := make([]any, 0, len(vs))
		for _, v := range vs {
			if _, isBool := v.(bool); isBool {
				b.eq(e, typ, v, conv)
				b.WriteString(" OR ")
				continue
			}
			plain = append(plain, v)
		}
		if len(plain) == 0 {
			b.WriteString("0)")
			return
		}
		b.WriteString(e + " IN (")
		for i, v := range plain {
			if i > 0 {
				b.WriteString(",")
			}
			b.arg(conv(v))
		}
		b.WriteString("))")
	case store.OpPrefix:
		p := n.Value.(string)
		b.WriteString("(" + e + " >= ")
		b.arg(p)
		b.WriteString(" AND " + e + " < ")
		// No valid UTF-8 string has the byte 0xFF, so [p, p+"\xff") holds exactly
		// the strings that start with p.
		b.arg(p + "\xff")
		b.WriteString(")")
	default:
		op := map[store.Op]string{store.OpGt: ">", store.OpGte: ">=", store.OpLt: "<", store.OpLte: "<="}[n.Op]
		b.WriteString("(" + e + " " + op + " ")
		b.arg(conv(n.Value))
		// Bracket the type as MongoDB does: numbers only compare with numbers and
		// strings with strings. SQLite orders NULL < numbers < text < blobs, so one
		// more bound on the other side keeps the index range.
		switch n.Value.(type) {
		case decimal.Decimal:
			if n.Op == store.OpGt || n.Op == store.OpGte {
				b.WriteString(" AND " + e + " <= ")
				b.arg(int64(math.MaxInt64))
			}
			if typ != "" {
				b.WriteString(" AND " + typ + " = 'integer'")
			}
		case string:
			if n.Op == store.OpLt || n.Op == store.OpLte {
				b.WriteString(" AND " + e + " >= ''")
			} else {
				b.WriteString(" AND " + e + " < x''")
			}
		}
		b.WriteString(")")
	}
}

func (b *sqlBuf) eq(e, typ string, v any, conv func(any) any) {
	if bv, isBool := v.(bool); isBool && typ != "" {
		b.WriteString(typ + " = '" + map[bool]string{true: "true", false: "false"}[bv] + "'")
		return
	}
	b.WriteString(e + " = ")
	b.arg(conv(v))
}

// sideValue is how a scalar is stored in a side table: numbers scaled, strings
// as text, booleans as one-byte blobs (so they never equal a number).
func sideValue(v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return []byte{1}
		}
		return []byte{0}
	case decimal.Decimal:
		n, _ := x.Scaled(store.Scale)
		return n
	}
	return v
}
