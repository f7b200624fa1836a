package main

import "testing"

// mercureCases are TestOpenAPIRequests' cases for the Mercure hub's routes
// (/.well-known/mercure and its protected resource metadata): none while
// herald serve does not serve them.
//
// MERCURE: once herald serve mounts the Mercure handler, TestOpenAPIRoutes
// fails, naming each method it answers as served but not described.
// Describe them in openapi/openapi.json, in the path item reserved for
// /.well-known/mercure, and add a case here for each answer described;
// TestOpenAPIRequests then fails on any described answer no case produces.
func mercureCases(t *testing.T, n *servedNode) []apiCase {
	t.Helper()
	return nil
}
