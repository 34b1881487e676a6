// The official openai npm package against two gateway replicas: create, stream, a follow-up through the other
// replica, retrieve, input items, delete, and a 404 for what was deleted. Run by the xunit test
// ResponsesNpmClientTests with the replicas' base URLs; prints one JSON line of what it saw, exits non-zero on failure.
import OpenAI from "openai";

const [, , replicaA, replicaB, model] = process.argv;
if (!replicaA || !replicaB || !model) {
  console.error("usage: node responses.mjs <replica A /openai/v1/ URL> <replica B URL> <model>");
  process.exit(2);
}
const options = { apiKey: process.env.GATEWAY_KEY ?? "unused", maxRetries: 0, timeout: 60_000 };
const a = new OpenAI({ ...options, baseURL: replicaA });
const b = new OpenAI({ ...options, baseURL: replicaB });

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

const first = await a.responses.create({ model, input: "Hello from the npm client", max_output_tokens: 6 });
check(first.id.startsWith("resp_"), `id ${first.id}`);
check(first.status === "completed", `status ${first.status}`);
check(first.output_text.length > 0, "no output_text");
check(first.usage.input_tokens > 0 && first.usage.output_tokens === 6, `usage ${JSON.stringify(first.usage)}`);

// Streamed follow-up through the other replica: its owner serves it.
const stream = await b.responses.create({ model, input: "And a second turn", previous_response_id: first.id, max_output_tokens: 5, stream: true });
let deltas = 0;
let completed = null;
let created = null;
for await (const event of stream) {
  if (event.type === "response.created") created = event.response.id;
  if (event.type === "response.output_text.delta") deltas++;
  if (event.type === "response.completed") completed = event.response;
}
check(created && completed && completed.id === created, "no response.created / response.completed pair");
check(deltas === 5, `deltas ${deltas}`);
check(completed.previous_response_id === first.id, "previous_response_id not echoed");
check(completed.usage.input_tokens_details.cached_tokens > 0, "the follow-up's context was not cached: did it run where the first turn is?");

const retrieved = await b.responses.retrieve(first.id);
check(retrieved.id === first.id && retrieved.output_text === first.output_text, "retrieved response differs");

const items = await a.responses.inputItems.list(completed.id);
check(items.data.length === 1 && items.data[0].content[0].text === "And a second turn", `input items ${JSON.stringify(items.data)}`);

const deleted = await b.responses.delete(first.id);
let status = 0;
try {
  await a.responses.retrieve(first.id);
} catch (error) {
  status = error.status;
}
check(status === 404, `retrieve after delete: ${status}`);

console.log(JSON.stringify({ first: first.id, second: completed.id, deltas, deleted: deleted === undefined ? true : deleted, afterDelete: status }));
