package server

// What the browser UI (package ui) shares with the API: the session cookie
// (a browser signed in on the UI is signed in on the API, with the same CSRF
// token) and the localized titles of error statuses; Message (dataio.go)
// renders field problems.

// SessionCookie is the name of the browser session cookie.
const SessionCookie = sessionCookie

// Title is the title of an error status in language l ("" when unknown).
func Title(l string, status int) string {
	t, ok := titles[status]
	if !ok {
		return ""
	}
	if l == "en" {
		return t[1]
	}
	return t[0]
}
