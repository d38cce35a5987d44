package template

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// The declaration types mirror the template format (schemas/template.schema.json)
// and remember where each name and expression was written, so that the checker
// can point at it. YAML that reached decoding has passed the JSON Schema, so
// shapes are right; decoding still refuses what the schema cannot see.

// Str is a scalar with its position.
type Str struct {
	V string
	Pos
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Str) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a single value", n.Line)
	}
	s.V, s.Pos = n.Value, Pos{n.Line, n.Column}
	return nil
}

// Expr is an expression as written, with the position of its first character
// in the file (after an opening quote).
type Expr struct {
	Src string
	Pos
	set bool
}

// IsSet reports whether the template gave the expression.
func (e Expr) IsSet() bool { return e.set }

// UnmarshalYAML implements yaml.Unmarshaler: a string is the expression text; a
// YAML number or boolean is the expression of that constant.
func (e *Expr) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: an expression is a single value", n.Line)
	}
	e.Src, e.Pos, e.set = n.Value, Pos{n.Line, n.Column}, true
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		e.Col++ // point past the quote, at the expression itself
	}
	return nil
}

// BoolOrExpr is an access rule: true, false, or an expression.
type BoolOrExpr struct {
	Const *bool
	Expr  Expr
	Pos
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *BoolOrExpr) UnmarshalYAML(n *yaml.Node) error {
	b.Pos = Pos{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var v bool
		if err := n.Decode(&v); err != nil {
			return err
		}
		b.Const = &v
		return nil
	}
	return b.Expr.UnmarshalYAML(n)
}

// StrList is a list of names; a single scalar is a list of one (from: draft).
type StrList []Str

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *StrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = StrList{{n.Value, Pos{n.Line, n.Column}}}
		return nil
	}
	var items []Str
	if err := n.Decode(&items); err != nil {
		return err
	}
	*l = items
	return nil
}

// Label is a text in several languages ("zh-CN", "en").
type Label struct {
	Text map[string]string
	Pos
	set bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *Label) UnmarshalYAML(n *yaml.Node) error {
	l.Pos, l.set = Pos{n.Line, n.Column}, true
	return n.Decode(&l.Text)
}

// Entry is one entry of a YAML mapping keyed by names, in file order.
type Entry[T any] struct {
	Key Str
	Val T
}

// Map is a YAML mapping keyed by names, keeping order and key positions.
type Map[T any] []Entry[T]

// UnmarshalYAML implements yaml.Unmarshaler.
func (m *Map[T]) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var e Entry[T]
		e.Key = Str{k.Value, Pos{k.Line, k.Column}}
		if err := v.Decode(&e.Val); err != nil {
			return err
		}
		*m = append(*m, e)
	}
	return nil
}

// Get returns the entry named key.
func (m Map[T]) Get(key string) (T, bool) {
	for _, e := range m {
		if e.Key.V == key {
			return e.Val, true
		}
	}
	var zero T
	return zero, false
}

// Keys returns the names in file order.
func (m Map[T]) Keys() []string {
	ks := make([]string, len(m))
	for i, e := range m {
		ks[i] = e.Key.V
	}
	return ks
}

// PackageDecl is package.yaml.
type PackageDecl struct {
	Package     Str        `yaml:"package"`
	Version     Str        `yaml:"version"`
	Label       Label      `yaml:"label"`
	Description Label      `yaml:"description"`
	Requires    Map[Str]   `yaml:"requires"`
	Roles       Map[Label] `yaml:"roles"`
}

// EntityDecl is one entity file.
type EntityDecl struct {
	Entity      Str                  `yaml:"entity"`
	Label       Label                `yaml:"label"`
	Description Label                `yaml:"description"`
	Singleton   bool                 `yaml:"singleton"`
	Number      Str                  `yaml:"number"`
	Title       Expr                 `yaml:"title"`
	Fields      Map[*FieldDecl]      `yaml:"fields"`
	Rules       []RuleDecl           `yaml:"rules"`
	States      Map[*StateDecl]      `yaml:"states"`
	Transitions Map[*TransitionDecl] `yaml:"transitions"`
	Access      Map[*AccessDecl]     `yaml:"access"`
	List        *ListDecl            `yaml:"list"`
	Form        []FormSectionDecl    `yaml:"form"`
	Prints      Map[*PrintDecl]      `yaml:"prints"`
	Indexes     []StrList            `yaml:"indexes"`
	Tracking    *TrackingDecl        `yaml:"tracking"`
}

// FieldDecl is one field (also a table's column or a transition input).
type FieldDecl struct {
	Type         Str             `yaml:"type"`
	Label        Label           `yaml:"label"`
	Help         Label           `yaml:"help"`
	Required     bool            `yaml:"required"`
	RequiredWhen Expr            `yaml:"required_when"`
	VisibleWhen  Expr            `yaml:"visible_when"`
	Readonly     bool            `yaml:"readonly"`
	ReadonlyWhen Expr            `yaml:"readonly_when"`
	Default      Expr            `yaml:"default"`
	Compute      Expr            `yaml:"compute"`
	Min          *float64        `yaml:"min"`
	Max          *float64        `yaml:"max"`
	MinLength    *int            `yaml:"min_length"`
	MaxLength    *int            `yaml:"max_length"`
	Pattern      Str             `yaml:"pattern"`
	Unique       bool            `yaml:"unique"`
	Index        bool            `yaml:"index"`
	Options      []Str           `yaml:"options"`
	OptionLabels Map[Label]      `yaml:"option_labels"`
	To           Str             `yaml:"to"`
	Filter       Expr            `yaml:"filter"`
	Role         Str             `yaml:"role"`
	Scale        *int            `yaml:"scale"`
	Fields       Map[*FieldDecl] `yaml:"fields"`
	MinRows      *int            `yaml:"min_rows"`
	MaxRows      *int            `yaml:"max_rows"`
	MaxSize      *int64          `yaml:"max_size"`
	Accept       []Str           `yaml:"accept"`
	RenamedFrom  Str             `yaml:"renamed_from"`
	Migrate      Expr            `yaml:"migrate"`
}

// RuleDecl is a check on every save, or a transition check.
type RuleDecl struct {
	Check   Expr  `yaml:"check"`
	Message Label `yaml:"message"`
	Warn    bool  `yaml:"warn"`
}

// StateDecl is one state.
type StateDecl struct {
	Label      Label   `yaml:"label"`
	Initial    bool    `yaml:"initial"`
	Final      bool    `yaml:"final"`
	Color      Str     `yaml:"color"`
	EditableBy StrList `yaml:"editable_by"`
}

// TransitionDecl is one transition.
type TransitionDecl struct {
	Label    Label           `yaml:"label"`
	From     StrList         `yaml:"from"`
	To       Str             `yaml:"to"`
	Roles    StrList         `yaml:"roles"`
	Checks   []RuleDecl      `yaml:"checks"`
	Input    Map[*FieldDecl] `yaml:"input"`
	Approval *ApprovalDecl   `yaml:"approval"`
	Effects  []EffectDecl    `yaml:"effects"`
	// EffectOnly: only the effects of another record's transition take it
	// (an order's ship, taken by its delivery note); no user, not even an
	// admin, can take it by hand.
	EffectOnly bool `yaml:"effect_only"`
}

// ApprovalDecl is the approval a transition waits for.
type ApprovalDecl struct {
	When         Expr       `yaml:"when"`
	SelfApproval bool       `yaml:"self_approval"`
	Steps        []StepDecl `yaml:"steps"`
}

// StepDecl is one approval step.
type StepDecl struct {
	Name   Str     `yaml:"name"`
	Label  Label   `yaml:"label"`
	Roles  StrList `yaml:"roles"`
	When   Expr    `yaml:"when"`
	Quorum Str     `yaml:"quorum"`
}

// EffectDecl is one effect: its kind (the one key) and its body.
type EffectDecl struct {
	Kind Str
	Body EffectBody
}

// EffectBody holds the properties of every effect kind; the checker enforces
// which belong to which.
type EffectBody struct {
	When         Expr      `yaml:"when"`
	Values       Map[Expr] `yaml:"values"`
	Entity       Str       `yaml:"entity"`
	LinkBack     Str       `yaml:"link_back"`
	Link         Str       `yaml:"link"`
	Name         Str       `yaml:"name"`
	Move         Str       `yaml:"move"`
	Warehouse    Expr      `yaml:"warehouse"`
	ToWarehouse  Expr      `yaml:"to_warehouse"`
	Lines        Str       `yaml:"lines"`
	Item         Expr      `yaml:"item"`
	Qty          Expr      `yaml:"qty"`
	FromReserved bool      `yaml:"from_reserved"`
	CountedAt    Expr      `yaml:"counted_at"`
	Confirmed    Expr      `yaml:"confirmed"`
	Account      Str       `yaml:"account"`
	Party        Expr      `yaml:"party"`
	Debit        Expr      `yaml:"debit"`
	Credit       Expr      `yaml:"credit"`
	Voucher      Expr      `yaml:"voucher"`
	Due          Expr      `yaml:"due"`
	To           Expr      `yaml:"to"`
	Note         Expr      `yaml:"note"`
	ToUsers      Expr      `yaml:"to_users"`
	ToRoles      StrList   `yaml:"to_roles"`
	Message      Label     `yaml:"message"`
	Webhook      Str       `yaml:"webhook"`
}

// UnmarshalYAML implements yaml.Unmarshaler: a mapping of exactly one key.
func (e *EffectDecl) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: an effect is a mapping with exactly one key", n.Line)
	}
	k := n.Content[0]
	e.Kind = Str{k.Value, Pos{k.Line, k.Column}}
	return n.Content[1].Decode(&e.Body)
}

// AccessDecl is what one role may do with an entity.
type AccessDecl struct {
	Read   *BoolOrExpr      `yaml:"read"`
	Create *BoolOrExpr      `yaml:"create"`
	Update *BoolOrExpr      `yaml:"update"`
	Delete *BoolOrExpr      `yaml:"delete"`
	Fields *FieldAccessDecl `yaml:"fields"`
}

// FieldAccessDecl restricts single fields for a role.
type FieldAccessDecl struct {
	Hide     []Str `yaml:"hide"`
	Readonly []Str `yaml:"readonly"`
}

// ListDecl is the list page of an entity.
type ListDecl struct {
	Columns  []Str `yaml:"columns"`
	Filters  []Str `yaml:"filters"`
	Sort     Str   `yaml:"sort"`
	PageSize int   `yaml:"page_size"`
}

// FormSectionDecl is one section of the form.
type FormSectionDecl struct {
	Section Label `yaml:"section"`
	Fields  []Str `yaml:"fields"`
	Columns int   `yaml:"columns"`
}

// PrintDecl is a print layout.
type PrintDecl struct {
	Label    Label `yaml:"label"`
	Template Str   `yaml:"template"`
	Paper    Str   `yaml:"paper"`
}

// TrackingDecl opts the entity into customer tracking links: what the customer
// sees on the public page, and whether they may leave feedback.
type TrackingDecl struct {
	Fields   []Str `yaml:"fields"`
	Feedback bool  `yaml:"feedback"`
}
