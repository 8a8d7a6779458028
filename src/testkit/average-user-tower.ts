import type { FeedQuery, UserTowerModel } from "../pipeline/types";
import type { VectorIndex } from "../stores/vector-index";
import { meanVector } from "../sources/vector-math";

/**
 * A user tower without a trained model, for the testkit: the mean of the video embeddings of the user's recent
 * watches and likes (a classic item-average user representation), or a fixed direction for a user with no
 * history. Real serving uses the ONNX user tower; this lets the TwoTower source run in tests with no bundle.
 */
export function createAverageUserTower(index: VectorIndex): UserTowerModel {
  return {
    dim: index.dim,
    async embed(query: FeedQuery) {
      const ids = [...(query.userAgg?.recent.map((r) => r.videoId) ?? []), ...(query.userAgg?.recentLikes ?? [])];
      const vectors = (await Promise.all(ids.map((id) => index.get(id)))).filter((v): v is Float32Array => !!v);
      const mean = meanVector(vectors);
      if (mean) return mean;
      const cold = new Float32Array(index.dim);
      cold[0] = 1;
      return cold;
    },
  };
}
