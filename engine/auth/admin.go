package auth

import (
	"context"
	"errors"
	"fmt"
)

// AdminUsername is the user EnsureAdmin creates.
const AdminUsername = "admin"

// EnsureAdmin creates the user "admin" with the role admin when no user exists
// yet, so that a fresh installation can be logged into. The password is the
// given one (the caller passes YERP_ADMIN_PASSWORD; it must meet the password
// policy) or, when empty, a generated one returned as oneTimePassword for the
// caller to print once; a generated password is marked to be changed.
//
// It is idempotent, and safe when several processes start together: the
// unique username index lets exactly one of them create the user, and the
// others return created == false.
func (s *Service) EnsureAdmin(ctx context.Context, password string) (created bool, oneTimePassword string, err error) {
	n, err := s.st.Count(ctx, UsersCollection, nil)
	if err != nil {
		return false, "", fmt.Errorf("ensure admin: %w", err)
	}
	if n > 0 {
		return false, "", nil
	}
	generated := password == ""
	if generated {
		password = GeneratePassword()
	}
	_, err = s.CreateUser(ctx, NewUser{
		Username:           AdminUsername,
		Name:               "Administrator",
		Roles:              []string{AdminRole},
		Password:           password,
		MustChangePassword: generated,
	})
	if errors.Is(err, ErrExists) {
		return false, "", nil // another process came first
	}
	if err != nil {
		return false, "", fmt.Errorf("ensure admin: %w", err)
	}
	if generated {
		return true, password, nil
	}
	return true, "", nil
}
