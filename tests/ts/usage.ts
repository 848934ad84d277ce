// How an application uses the generated types. tests/test_typescript.py compiles this file with
// `tsc --strict` next to the files `manage.py livepush_typescript` writes and a copy of
// src/livepush/static/livepush/livepush.d.ts (as livepush.d.ts); it is never run. tsc fails on
// any `@ts-expect-error` whose next line compiles, so each one proves a mistake is caught.
import { LivePush } from "./livepush.js";
import type { ChatMessage } from "./websocket-interfaces.js";
import type { WebSocketMessages } from "./websocket-messages.js";
import { WebSocketMessageType } from "./websockets.js";

const client = new LivePush<WebSocketMessages>({ autoConnect: false });

// A schema's TypedDict types the handler's payload.
client.bind("CHAT_MESSAGE", (data) => {
  const room: string = data.room;
  const text: string = data.text;
  const mentions: number[] | undefined = data.mentions;
  // @ts-expect-error room is a string, not a number
  const wrongType: number = data.room;
  // @ts-expect-error mentions is NotRequired, so it may be undefined
  const notOptional: number[] = data.mentions;
  // @ts-expect-error ChatMessage has no key "author"
  const unknownKey: unknown = data.author;
  console.log(room, text, mentions, wrongType, notOptional, unknownKey);
});

// @ts-expect-error a handler for another payload type is rejected
client.bind("CHAT_MESSAGE", (data: { room: number }) => console.log(data.room));

// The enum members, as the seed client writes them, name the same types.
const typeName: "PHOTO_UPLOADED" = WebSocketMessageType.PhotoUploaded;
client.bind(WebSocketMessageType.ChatMessage, (data: ChatMessage) => console.log(data.room));

// A type without a schema has an unknown payload, to be narrowed before use.
client.bind("PHOTO_UPLOADED", (data) => {
  // @ts-expect-error data is unknown
  console.log(data.id);
});

// The payloads the protocol fixes.
client.bind("PRESENCE_SNAPSHOT", (data) => {
  const ids: (number | string)[] = data.user_ids;
  console.log(ids);
});
client.bind("USER_PRESENCE_CONNECTED", (data) => console.log(data.user_id));
client.bind("ERROR", (data) => {
  const code: string = data.code;
  const detail: string = data.detail;
  console.log(code, detail);
});

// @ts-expect-error a type name that is not registered
client.bind("CHAT_MESAGE", () => {});
// @ts-expect-error PING is answered by the client itself and never reaches handlers
client.bind("PING", () => {});

client.send("CHAT_MESSAGE", { room: "lobby", text: "hi" });
// @ts-expect-error the payload lacks the required key "text"
client.send("CHAT_MESSAGE", { room: "lobby" });

console.log(typeName);
