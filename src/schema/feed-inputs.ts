// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { GraphQLDateTime } from "graphql-scalars";
import { Field, ID, InputType } from "type-graphql";
import { DeviceEnum } from "./enums";

@InputType("FeedContextInput", { description: "What the client knows about this request." })
export class FeedContextInput {
  @Field(() => DeviceEnum, { nullable: true })
  device?: DeviceEnum;

  @Field(() => String, { nullable: true, description: "ISO 3166-1 alpha-2 country (case-insensitive)." })
  country?: string;

  @Field(() => String, { nullable: true, description: "BCP 47 language; the primary subtag is used (en-GB → en)." })
  language?: string;

  @Field(() => GraphQLDateTime, { nullable: true, description: "Request time; defaults to the server clock." })
  time?: Date;

  @Field(() => [ID], { nullable: true, description: "Videos watched earlier in this session, most recent last." })
  sessionVideoIds?: string[];
}
