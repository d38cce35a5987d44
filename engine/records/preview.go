package records

import "github.com/yerp/yerp/engine/template"

// WithModel returns an engine over the same store and options that runs
// model m instead of the active model: the template editor's preview of an
// unpublished version (form access, what a form would show). Nothing about
// the active engine changes.
func (e *Engine) WithModel(m *template.Model) *Engine {
	c := New(e.st, func() *template.Model { return m }, e.opts)
	c.now = e.now
	return c
}
