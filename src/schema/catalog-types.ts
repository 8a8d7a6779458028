// type-graphql reads Reflect metadata as its decorators run: whichever module loads first needs the polyfill.
import "reflect-metadata";
import { GraphQLDateTime } from "graphql-scalars";
import { Field, Float, ID, Int, ObjectType } from "type-graphql";
import { AgeGroupEnum, DeviceEnum } from "./enums";

/** Public catalog types. Internal moderation fields (policy flags, blocked regions) are deliberately absent. */

@ObjectType("Creator")
export class CreatorType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  name?: string;
}

@ObjectType("Video")
export class VideoType {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  title!: string;

  @Field(() => String, { nullable: true })
  description?: string;

  @Field(() => [String])
  tags!: string[];

  @Field(() => String)
  category!: string;

  @Field(() => String, { nullable: true, description: "BCP 47 primary language, lower case." })
  language?: string;

  @Field(() => Int)
  durationSec!: number;

  @Field(() => GraphQLDateTime)
  uploadedAt!: Date;

  @Field(() => Boolean)
  ageRestricted!: boolean;

  @Field(() => CreatorType)
  creator!: CreatorType;
}

@ObjectType("User", { description: "A viewer's public profile. Sensitive attributes are coarsened or omitted." })
export class UserType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true, description: "ISO 3166-1 alpha-2, upper case." })
  country?: string;

  @Field(() => String, { nullable: true })
  language?: string;

  @Field(() => AgeGroupEnum)
  ageGroup!: AgeGroupEnum;

  @Field(() => DeviceEnum, { nullable: true })
  device?: DeviceEnum;

  @Field(() => GraphQLDateTime, { nullable: true })
  createdAt?: Date;
}

@ObjectType("ScoredVideo")
export class ScoredVideoType {
  @Field(() => VideoType)
  video!: VideoType;

  @Field(() => Float, { description: "Relevance on the producing source's own scale; higher is better." })
  score!: number;
}
