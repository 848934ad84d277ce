// How an application types a live collection and the React bindings. tests/test_typescript.py
// compiles this with `tsc --strict` next to the generated files and copies of livepush.d.ts,
// collection.d.ts and react.d.ts; it is never run.
import { LiveCollection } from "./collection.js";
import { LivePush } from "./livepush.js";
import { createLivePushReact } from "./react.js";
import type { WebSocketMessages } from "./websocket-messages.js";

interface Photo {
  id: number;
  album_id: number;
  title: string;
  version: number;
}

const client = new LivePush<WebSocketMessages>({ autoConnect: false });
const photos = new LiveCollection<Photo, WebSocketMessages>(client, {
  fetch: async () => [] as Photo[],
  create: "PHOTO_UPLOADED",
  update: ["PHOTO_UPDATED"],
  delete: "PHOTO_DELETED",
  filter: (photo) => photo.album_id === 3,
  version: (photo) => photo.version,
  sort: (a, b) => a.title.localeCompare(b.title),
});
const titles: string[] = photos.getSnapshot().items.map((photo) => photo.title);

new LiveCollection<Photo, WebSocketMessages>(client, {
  fetch: async () => [] as Photo[],
  // @ts-expect-error a type name that is not registered
  create: "PHOTO_UPLOADD",
});
new LiveCollection<Photo, WebSocketMessages>(client, {
  fetch: async () => [] as Photo[],
  // @ts-expect-error Photo has no "album"
  filter: (photo) => photo.album === 3,
});

declare const React: Parameters<typeof createLivePushReact>[0];
const { useLiveCollection } = createLivePushReact<WebSocketMessages>(React);
export function useAlbum(albumId: number) {
  const { items, isLoading, refetch } = useLiveCollection<Photo>(
    { fetch: async () => [] as Photo[], create: "PHOTO_UPLOADED", filter: (p) => p.album_id === albumId },
    [albumId],
  );
  const first: Photo | undefined = items[0];
  return { first, isLoading, refetch };
}

console.log(titles);
