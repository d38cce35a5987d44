package records

import (
	"slices"

	"github.com/yerp/yerp/engine/template"
)

// checkUser accepts the value of user field f (or of a transition input of
// type user) when it names an active user who holds the field's role; a
// value that did not change (current) is not checked again, so a record
// whose user was disabled since can still be saved. Without a user directory
// nothing is checked.
func (ev *evaluator) checkUser(ve *ValidationError, path string, f *template.FieldDecl, v, current any) error {
	id, ok := v.(string)
	if !ok || id == "" || id == current || ev.e.users == nil {
		return nil
	}
	roles, active, err := ev.e.users.Roles(ev.ctx, id)
	if err != nil {
		return err
	}
	if !active {
		ve.add(path, "unknown_user", map[string]any{"user": id})
		return nil
	}
	if f.Role.V != "" && !slices.Contains(roles, f.Role.V) {
		ve.add(path, "wrong_role", map[string]any{"role": f.Role.V})
	}
	return nil
}
