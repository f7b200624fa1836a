package sse

// HTTPDateForTest exposes httpDate to the tests.
var HTTPDateForTest = httpDate
