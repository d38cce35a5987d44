package mongo

import "time"

// SetClaimLease changes how old a claim must be to be broken, for tests, and
// returns a function restoring it.
func SetClaimLease(d time.Duration) (restore func()) {
	old := claimLease
	claimLease = d
	return func() { claimLease = old }
}

// ClaimsCollection is the collection of version claims.
const ClaimsCollection = claimsCollection

// UsesClaims reports whether s serializes guarded writes through claims.
func (s *Store) UsesClaims() bool { return s.claims }
