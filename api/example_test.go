package api_test

import (
	"encoding/json"
	"fmt"

	"github.com/heraldsse/herald/api"
)

// The body a client sends to publish text, and the body of the answer.
func ExamplePublishRequest() {
	body, _ := json.Marshal(api.PublishRequest{Topic: "chat/lobby", Type: "note", Data: api.Text("hi")})
	fmt.Println(string(body))

	var answer api.PublishResponse
	_ = json.Unmarshal([]byte(`{"id":"1764158400123-1"}`), &answer)
	fmt.Println(answer.ID)
	// Output:
	// {"topic":"chat/lobby","type":"note","data":"hi"}
	// 1764158400123-1
}
